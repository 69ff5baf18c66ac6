"""The key-value store's rules: names, sizes, time to live."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from taskgate.domain.errors import Forbidden, InvalidInput
from taskgate.domain.text import refuse_bad_text

MAX_NAMESPACE_LENGTH = 200
# What a reader sees instead of a secret value.
REDACTED = "***"
# In a task's kv_namespaces: every namespace.
ALL_NAMESPACES = "*"
MAX_KEY_LENGTH = 512
# A namespace the native API creates: a plain name, never a path (`..`, `a/b`). The Butler
# door keeps Butler's own rules for the namespaces its clients write.
PLAIN_NAMESPACE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"  # the length: check_namespace
# A hundred years: "for ever" in practice, and far from the end of the calendar, where an
# expiry instant could not be stored any more.
MAX_TTL_MS = 100 * 366 * 24 * 3600 * 1000


@dataclass(frozen=True)
class KvLimits:
    max_value_bytes: int = 256 * 1024
    max_keys_per_namespace: int = 1000
    max_namespaces: int = 1000


@dataclass(frozen=True)
class KvWrite:
    """One value to store. `ttl_ms` None or ≤ 0 keeps it until it is deleted (Butler's rule)."""

    namespace: str
    key: str
    value: str
    ttl_ms: int | None = None
    # Write-only: the API shows REDACTED instead; sequences use it and hide it in what they show.
    secret: bool = False

    def expires_at(self, now: datetime) -> datetime | None:
        if self.ttl_ms is None or self.ttl_ms <= 0:
            return None
        return now + timedelta(milliseconds=self.ttl_ms)


@dataclass(frozen=True)
class KvEntry:
    namespace: str
    key: str
    value: str
    expires_at: datetime | None
    updated_at: datetime
    secret: bool = False

    def shown(self) -> KvEntry:
        """The entry as a reader sees it: a secret's value hidden."""
        return replace(self, value=REDACTED) if self.secret else self


def check_namespace(namespace: str) -> None:
    if not namespace or len(namespace) > MAX_NAMESPACE_LENGTH:
        raise InvalidInput(
            f"namespace must be 1-{MAX_NAMESPACE_LENGTH} characters", field="namespace"
        )
    refuse_bad_text(namespace, "namespace")


def token_scope(namespaces: Iterable[str]) -> frozenset[str] | None:
    """What a run's token may use, from the namespaces granted to it: None for all."""
    granted = frozenset(namespaces)
    return None if ALL_NAMESPACES in granted else granted


def check_scope(scope: frozenset[str] | None, namespace: str) -> None:
    """A caller narrowed to some namespaces (an execution's token) may use those only."""
    if scope is not None and namespace not in scope:
        raise Forbidden(
            f"this execution's token may not use namespace {namespace!r}: a run's token may use "
            "the namespaces its start wrote and those its task lists in kv_namespaces",
            field="namespace",
        )


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"key must be 1-{MAX_KEY_LENGTH} characters", field="key")
    refuse_bad_text(key, "key")


def check_write(item: KvWrite, limits: KvLimits) -> None:
    check_namespace(item.namespace)
    check_key(item.key)
    if item.ttl_ms is not None and item.ttl_ms > MAX_TTL_MS:
        raise InvalidInput(
            f"the time to live may be at most {MAX_TTL_MS} ms (a hundred years)", field="ttl_ms"
        )
    refuse_bad_text(item.value, "value")
    size = len(item.value.encode())
    if size > limits.max_value_bytes:
        raise InvalidInput(
            f"value of {item.namespace}/{item.key} is {size} bytes; "
            f"the limit is {limits.max_value_bytes}",
            field="value",
        )
