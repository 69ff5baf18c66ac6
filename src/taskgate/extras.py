"""Optional parts installed as extras (`pip install 'taskgate[postgres]'`): a clear error
naming the extra when a config asks for a part that is not installed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from taskgate.domain.errors import ConfigError


@contextmanager
def extra_needed(module: str, extra: str, *, field: str, what: str) -> Iterator[None]:
    """Turn a missing `module` (the extra's library) into a ConfigError naming `field`."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != module:
            raise
        raise ConfigError(
            f"{field}: {what} needs the {extra!r} extra, which is not installed "
            f"(pip install 'taskgate[{extra}]')",
            field=field,
        ) from exc
