"""The memory trimmer: a full collection and glibc's malloc_trim after work, nothing while
idle."""

from __future__ import annotations

import gc
import sys
import weakref

import pytest

from taskgate.core.memory import MemoryTrimmer, _malloc_trim


def test_it_trims_only_after_the_server_allocated() -> None:
    calls: list[int] = []
    trimmer = MemoryTrimmer(lambda: calls.append(1))
    gc.collect()  # what a burst of work does now and then
    assert trimmer.tick()
    assert not trimmer.tick()  # nothing since
    assert calls == [1]
    gc.collect()
    assert trimmer.tick()
    assert trimmer.trims == 2


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_garbage_in_cycles_is_freed_after_work() -> None:
    """What a busy server leaves in reference cycles is freed at the next tick, not only at
    the rare full collection of the server's collector settings."""
    trimmer = MemoryTrimmer(None)
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    gc.collect(0)  # the young collections of the work move the cycle to an older generation
    gc.collect(1)
    del a, b
    assert gone() is not None  # only a full collection frees it now
    assert trimmer.tick()
    assert gone() is None


def test_an_idle_server_collects_nothing() -> None:
    trimmer = MemoryTrimmer(None)
    gc.collect()
    assert trimmer.tick()
    assert not trimmer.tick()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_glibc_malloc_trim_is_found_and_runs() -> None:
    trim = _malloc_trim()
    assert trim is not None
    trim()
