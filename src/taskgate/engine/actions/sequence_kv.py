"""The key-value values a sequence may use as `{{kv.<namespace>.<key>}}`, and its secrets.

A sequence reads the namespaces its task lists in `kv_namespaces` (not `*`: a sequence names
what it uses). Values marked secret are used as they are and hidden (***) wherever the run
shows data: its log, `save_req_to` and its result. The reading itself is handed in by the
assembly (engine/kvsource.py), so action modules stay free of the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class RunValues:
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    # Longest first: a secret that contains another is hidden whole.
    secrets: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunValuesSource:
    """Reads the live values of some namespaces (the server provides it in Resources)."""

    load: Callable[[list[str]], Awaitable[RunValues]]
