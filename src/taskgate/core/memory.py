"""Hands memory the server freed back to the system, after work.

A burst of starts or a long listing frees most of what it allocated, but glibc's allocator
keeps the freed pages in its heap: an idle server measured 9.5 MiB of RSS held so after 3,000
runs (bench/idle_memory.py --trim-probe). `malloc_trim(0)` returns them. It is called only
when the server has done something since the last time (the garbage collector has run: the
server allocated), at most once every 10 s: a few milliseconds each time at worst, and
nothing at all while the server is idle.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys
from collections.abc import Callable

from taskgate.core.background import Periodic

log = logging.getLogger(__name__)
EVERY_SECONDS = 10.0


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), or None where there is none (Windows, macOS, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


def _collections() -> int:
    """How many times the garbage collector has run: it runs only when the server allocates."""
    return sum(generation["collections"] for generation in gc.get_stats())


class MemoryTrimmer:
    """Returns freed heap memory after the server has worked (see the module's note)."""

    def __init__(self, trim: Callable[[], object] | None) -> None:
        self.trim = trim
        self.seen = _collections()
        self.trims = 0

    def tick(self) -> bool:
        """Trim if the server allocated since the last tick; whether it did."""
        now = _collections()
        if self.trim is None or now == self.seen:
            return False
        self.seen = now
        self.trim()
        self.trims += 1
        return True


def memory_trimmer(every_seconds: float = EVERY_SECONDS) -> Periodic:
    trimmer = MemoryTrimmer(_malloc_trim())

    async def tick() -> None:
        trimmer.tick()

    return Periodic("memory-trim", every_seconds, tick, at_start=False)
