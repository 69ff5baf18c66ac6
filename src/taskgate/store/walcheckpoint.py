"""Copying SQLite's write-ahead log back into the database file, off the event loop.

SQLite's own automatic checkpoint runs inside the commit that crosses 1,000 pages of log: on
the one connection the event loop works through, so a start or a run's end now and then
waited 10-20 ms for the copy and its fsync (the p99 of bench/trigger_latency.py). A server
turns that off and lets this thread checkpoint instead, on a connection of its own. PASSIVE
mode never waits for the loop's writes, and the sqlite3 module lets go of the GIL while the
copy runs, so the loop goes on meanwhile.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# How often to look: the log then holds about this many seconds of writes (a few MiB at the
# highest start rates), which is what SQLite's own 1,000-page threshold kept it to.
INTERVAL_SECONDS = 0.5


class WalCheckpointer:
    def __init__(self, path: Path, interval: float = INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="taskgate-wal-checkpoint", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """After the last checkpoint: what was committed is in the database file."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval):
                self._checkpoint(conn)
            self._checkpoint(conn)
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            # The next look tries again; meanwhile the log only grows.
            log.warning("WAL checkpoint failed: %s", exc)
