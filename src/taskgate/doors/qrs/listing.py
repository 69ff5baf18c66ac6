"""What QRS list endpoints share: `filter`, `orderby`, `privileges`, and `{"value": n}` counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from taskgate.domain.qrsfilter import Filter, parse_filter
from taskgate.domain.qrsorderby import OrderBy, parse_orderby
from taskgate.doors.qrs.entities import Renderer
from taskgate.doors.qrs.wire import json_response


def _param(request: Request, name: str) -> str | None:
    # QRS reads its query parameters by name in any case (`orderBy`, `Filter`).
    for key, value in request.query_params.multi_items():
        if key.lower() == name:
            return value
    return None


@dataclass(frozen=True)
class ListQuery:
    filter: Filter | None
    orderby: OrderBy | None
    renderer: Renderer

    @classmethod
    def of(cls, request: Request) -> ListQuery:
        text = _param(request, "filter")
        order = _param(request, "orderby")
        privileges = (_param(request, "privileges") or "").lower() == "true"
        return cls(
            filter=parse_filter(text) if text and text.strip() else None,
            orderby=parse_orderby(order) if order and order.strip() else None,
            renderer=Renderer(privileges=privileges),
        )

    def pinned(self, path: str) -> frozenset[str] | None:
        return self.filter.pinned(path) if self.filter is not None else None

    def select(
        self, entities: Sequence[dict[str, Any]], shown: Sequence[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """What the filter keeps, in the asked order. Filter and order read the full
        `entities`, as QRS reads its database; `shown` (condensed forms, same order) is what
        is answered, when given."""
        pairs = list(zip(entities, shown if shown is not None else entities, strict=True))
        kept = [p for p in pairs if self.filter is None or self.filter.matches(p[0])]
        if self.orderby is not None:
            order = {id(e): i for i, e in enumerate(self.orderby.sort([p[0] for p in kept]))}
            kept.sort(key=lambda p: order[id(p[0])])
        return [p[1] for p in kept]


def count_response(count: int) -> Response:
    # Qlik's docs say a bare integer; real servers and clients use {"value": n}.
    return json_response({"value": count})
