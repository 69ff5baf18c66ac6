"""A task's checks at work: its learned duration band and its deadline."""

from fastapi import APIRouter

from taskgate.core.checks.view import ChecksView
from taskgate.doors.api.deps import Core, Viewer

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])


@router.get("/{ref}/checks", response_model=ChecksView)
async def task_checks(ref: str, core: Core, _: Viewer) -> ChecksView:
    """The task's checks, the band learned from its history (`expected_duration: learn`),
    and its deadline: the next one, and how the last went."""
    return await core.checks.view(ref)
