"""The memory trimmer: glibc's malloc_trim after work, nothing while idle."""

from __future__ import annotations

import gc
import sys

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


def test_without_malloc_trim_it_does_nothing() -> None:
    trimmer = MemoryTrimmer(None)
    gc.collect()
    assert not trimmer.tick()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_glibc_malloc_trim_is_found_and_runs() -> None:
    trim = _malloc_trim()
    assert trim is not None
    trim()
