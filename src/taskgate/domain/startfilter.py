"""A start filter: which selectors a caller may use, checked per kind of selector.

This is Butler's `startTaskFilter`: an id is allowed only when it is on the id list, a tag only
when it is on the tag list, a property only when its exact name/value pair is listed. A task
that carries an allowed tag is still denied when asked for by an unlisted id.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskgate.domain.selectors import Selector, SelectorKind, normalize_task_id


@dataclass(frozen=True)
class StartFilter:
    task_ids: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    properties: frozenset[tuple[str, str]] = frozenset()

    def allows(self, selector: Selector) -> bool:
        if selector.kind is SelectorKind.ID:
            return (normalize_task_id(selector.value) or selector.value) in self.task_ids
        if selector.kind is SelectorKind.TAG:
            return selector.value in self.tags
        if selector.kind is SelectorKind.PROPERTY:
            return (selector.property_name or "", selector.value) in self.properties
        return False

    @classmethod
    def of(
        cls,
        task_ids: list[str],
        tags: list[str],
        properties: list[tuple[str, str]],
    ) -> StartFilter:
        return cls(
            frozenset(normalize_task_id(t) or t for t in task_ids),
            frozenset(tags),
            frozenset(properties),
        )
