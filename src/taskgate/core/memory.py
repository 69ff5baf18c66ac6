"""Hands memory the server freed back to the system, after work.

Two things keep an idle server's memory above what it holds alive after a burst of work:

- Garbage in reference cycles (SQLAlchemy's statements, with their subqueries and column
  proxies, are such cycles) that outlived the young generations. The server's collector
  thresholds (app.py) make a full collection rare, so this garbage piled up for ~10,000 runs
  before one came: +4 MiB of RSS after 3,000 runs, and the +25-33 MiB step of the
  100,000-run measurement (bench/README.md, branch `mem19`). A full collection here walks
  only what was made since start-up's `gc.freeze`: a few milliseconds.
- Pages glibc's allocator keeps after they were freed (9.5 MiB after 3,000 runs, measured
  with bench/idle_memory.py --trim-probe); `malloc_trim(0)` returns them.

Both run only when the server has done something since the last time (the garbage collector
has run: the server allocated), at most once every 10 s, and never while the server is idle.
"""

from __future__ import annotations

import functools
import gc
import logging
import sys
from collections.abc import Callable

from taskgate.core.background import Periodic

log = logging.getLogger(__name__)
EVERY_SECONDS = 10.0


@functools.cache
def _malloc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), or None where there is none (Windows, macOS, musl). Looked up
    at the first trim: nothing else in the server uses ctypes (~0.3 MiB of idle memory)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        # The process's own symbols, libc's among them: ctypes.util.find_library would run
        # `ldconfig -p` in a child process to find libc's file.
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


def _trim_heap() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim()


def _collections() -> int:
    """How many times the garbage collector has run: it runs only when the server allocates."""
    return sum(generation["collections"] for generation in gc.get_stats())


class MemoryTrimmer:
    """Collects the garbage and returns freed heap memory after the server has worked (see
    the module's note)."""

    def __init__(self, trim: Callable[[], object] | None) -> None:
        self.trim = trim
        self.seen = _collections()
        self.trims = 0

    def tick(self) -> bool:
        """Collect and trim if the server allocated since the last tick; whether it did."""
        if _collections() == self.seen:
            return False
        gc.collect()
        self.seen = _collections()  # the collection just made is no news of work
        if self.trim is not None:
            self.trim()
        self.trims += 1
        return True


def memory_trimmer(every_seconds: float = EVERY_SECONDS) -> Periodic:
    trimmer = MemoryTrimmer(_trim_heap)

    async def tick() -> None:
        trimmer.tick()

    return Periodic("memory-trim", every_seconds, tick, at_start=False)
