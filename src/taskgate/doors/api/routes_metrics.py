"""`/metrics` for Prometheus; a viewer may read it (open where the API is open)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from taskgate.doors.api.deps import Viewer
from taskgate.doors.metrics.collector import Metrics

router = APIRouter(tags=["admin"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, _: Viewer) -> Response:
    """Prometheus text format: executions by status and origin, waiting and running counts,
    start latency and run duration histograms, links to outside services."""
    collector: Metrics = request.app.state.metrics
    return Response(await collector.render(), media_type=CONTENT_TYPE_LATEST)
