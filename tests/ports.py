"""Loopback ports for the servers, brokers and listeners that tests start.

Binding port 0 and closing the socket again lets the kernel hand the same port to the next
caller that asks, and under pytest-xdist several worker processes ask at once: two servers
could be given one port, and a client's outgoing connection could take it before the server
binds it. So every pytest process takes its ports from a block of its own:

- the pool lies below the kernel's ephemeral range (the ports outgoing connections and
  `bind(("", 0))` get), so no client socket is ever given one of these ports;
- xdist worker `gwN` of M takes block N of M equal blocks: two workers of one run never pick
  the same port;
- inside its block a process hands out ports in turn from a random start, so two test runs
  on one machine walk different sequences, and it skips any port something already holds.

A port is free when it is handed out; a server that finds it taken all the same (another
test run on the machine got there first) is started again on a new one (see `conftest`).
"""

from __future__ import annotations

import os
import random
import socket
import threading
from pathlib import Path

POOL_LOW = 10_000
# Linux's default ephemeral range starts here; the real one is read from /proc when it can be.
DEFAULT_POOL_HIGH = 32_768
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
MIN_BLOCK = 100


def pool_high() -> int:
    """Where the pool ends: the start of this machine's ephemeral range."""
    try:
        low = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_POOL_HIGH
    # An ephemeral range that starts very low leaves no room below it: use the default
    # pool, and let the bind check and the server's retry deal with what is taken.
    return low if low - POOL_LOW >= MIN_BLOCK else DEFAULT_POOL_HIGH


def worker_block(worker: str, workers: int, low: int, high: int) -> range:
    """The ports of one pytest process: xdist worker `gwN` of `workers` gets block N.

    A run without xdist (`worker` empty) has the whole pool.
    """
    suffix = worker.removeprefix("gw")
    if not worker.startswith("gw") or not suffix.isdigit():
        return range(low, high)
    index = int(suffix)
    count = max(workers, index + 1)
    size = (high - low) // count
    if size < MIN_BLOCK:
        raise RuntimeError(f"{count} workers leave fewer than {MIN_BLOCK} ports each")
    start = low + index * size
    return range(start, start + size)


def bindable(port: int) -> bool:
    """Nothing holds `port` on the loopback (no listener, no socket in TIME_WAIT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class PortBlock:
    """Hands out the ports of one block in turn, from a random start, skipping taken ones."""

    def __init__(self, block: range, start: int) -> None:
        if not block:
            raise ValueError("empty port block")
        self.block = block
        self._offset = start % len(block)
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            for _ in range(len(self.block)):
                port = self.block[self._offset]
                self._offset = (self._offset + 1) % len(self.block)
                if bindable(port):
                    return port
        raise RuntimeError(f"no free port in {self.block.start}-{self.block.stop - 1}")


_block: PortBlock | None = None


def _this_process() -> PortBlock:
    global _block
    if _block is None:
        block = worker_block(
            os.environ.get("PYTEST_XDIST_WORKER", ""),
            int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")),
            POOL_LOW,
            pool_high(),
        )
        _block = PortBlock(block, random.randrange(len(block)))
    return _block


def free_port() -> int:
    """A loopback port nothing holds, that no other worker of this run will be given."""
    return _this_process().take()
