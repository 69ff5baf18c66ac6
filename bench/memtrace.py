"""Run the server under tracemalloc, for bench/idle_memory.py --trace (a diagnosis, not a
measurement: tracing itself costs memory and CPU).

    python bench/memtrace.py DIR FRAMES PYTHON -m taskgate serve --config ...

is `common.Server`'s wrapper: everything from PYTHON on is the server's own command line, run
here in this interpreter with tracemalloc started before the first import (so start-up is
traced too). Each SIGUSR1 writes a snapshot to DIR/snapshot-N.tracemalloc (N from 1), whole
when it appears. FRAMES 0 traces nothing.

SIGUSR2 collects the garbage (`gc.collect()`), SIGRTMIN asks glibc to hand free memory back
(`malloc_trim(0)`): how much of an idle server's RSS is garbage not yet collected, and memory
freed but kept by the C allocator. SIGRTMIN+1 writes DIR/census-N.txt: the objects the
collector tracks (those made after start-up's gc.freeze), by type, with count and shallow size.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import itertools
import os
import runpy
import signal
import sys
import tracemalloc
from types import FrameType


def main() -> None:
    out, frames, _python, flag, module, *rest = sys.argv[1:]
    if (flag, module) != ("-m", "taskgate"):
        raise SystemExit(f"memtrace runs `python -m taskgate ...`, not {flag} {module}")
    if int(frames):
        tracemalloc.start(int(frames))
    numbers = itertools.count(1)
    libc = ctypes.CDLL(ctypes.util.find_library("c"))

    def dump(_signum: int, _frame: FrameType | None) -> None:
        path = os.path.join(out, f"snapshot-{next(numbers)}.tracemalloc")
        tracemalloc.take_snapshot().dump(path + ".part")
        os.replace(path + ".part", path)

    def collect(_signum: int, _frame: FrameType | None) -> None:
        gc.collect()

    def trim(_signum: int, _frame: FrameType | None) -> None:
        libc.malloc_trim(0)

    def census(_signum: int, _frame: FrameType | None) -> None:
        counts: dict[str, list[int]] = {}
        for obj in gc.get_objects():
            entry = counts.setdefault(type(obj).__qualname__, [0, 0])
            entry[0] += 1
            entry[1] += sys.getsizeof(obj)
        path = os.path.join(out, f"census-{next(numbers)}.txt")
        with open(path + ".part", "w") as f:
            for name, (n, size) in sorted(counts.items(), key=lambda kv: -kv[1][1])[:60]:
                f.write(f"{size:12d} {n:9d} {name}\n")
            # Who holds a sample of the dicts and sets: their referrers' types.
            held: dict[str, int] = {}
            sample = [o for o in gc.get_objects() if type(o) in (dict, set)][-400:]
            for obj in sample:
                for ref in gc.get_referrers(obj):
                    if ref is not sample:
                        name = type(ref).__qualname__
                        if isinstance(ref, dict) and "__module__" in ref:
                            name = f"class dict {ref['__module__']}.{ref.get('__qualname__')}"
                        held[name] = held.get(name, 0) + 1
            for name, n in sorted(held.items(), key=lambda kv: -kv[1])[:25]:
                f.write(f"held by {n:6d} {name}\n")
        os.replace(path + ".part", path)

    signal.signal(signal.SIGUSR1, dump)
    signal.signal(signal.SIGRTMIN + 1, census)
    signal.signal(signal.SIGUSR2, collect)
    signal.signal(signal.SIGRTMIN, trim)
    sys.argv = ["taskgate", *rest]
    runpy.run_module("taskgate", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
