"""Capped collection of an execution's output."""

from __future__ import annotations


class LogCollector:
    """Keeps at most max_bytes (UTF-8) of an execution's output; reports what it dropped.

    `write()` is called for every chunk read from a process, so it does little work: ASCII text
    is measured without encoding, and once the cap is reached every further chunk is only
    counted. The cut falls on a character boundary, so the kept text is always valid UTF-8
    of at most `max_bytes` bytes.

    `take()` hands out what was written since the previous `take()` (the part still to be
    persisted); `size` counts the characters kept so far, which is the offset the next
    `take()` starts at. `close()` adds one note when something was dropped; the note is not
    counted in `size` or `kept_bytes`.
    """

    __slots__ = ("_closed", "_pending", "dropped", "kept_bytes", "max_bytes", "size", "truncated")

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.max_bytes = max_bytes
        self.size = 0
        self.kept_bytes = 0
        self.dropped = 0
        self.truncated = False
        self._pending: list[str] = []
        self._closed = False

    def write(self, text: str) -> None:
        """Append `text`; once the cap is reached, count the rest as dropped."""
        if not text:
            return
        ascii_only = text.isascii()  # O(1) in CPython
        if self.truncated:
            self.dropped += len(text) if ascii_only else len(text.encode("utf-8"))
            return
        room = self.max_bytes - self.kept_bytes
        if ascii_only:
            if len(text) <= room:
                self._keep(text, len(text))
                return
            if room:
                self._keep(text[:room], room)
            self._drop(len(text) - room)
            return
        data = text.encode("utf-8")
        if len(data) <= room:
            self._keep(text, len(data))
            return
        cut = room
        while cut > 0 and (data[cut] & 0xC0) == 0x80:  # back off a continuation byte
            cut -= 1
        if cut:
            self._keep(data[:cut].decode("utf-8"), cut)
        self._drop(len(data) - cut)

    def _keep(self, text: str, nbytes: int) -> None:
        self._pending.append(text)
        self.size += len(text)
        self.kept_bytes += nbytes

    def _drop(self, nbytes: int) -> None:
        self.dropped += nbytes
        self.truncated = True

    def take(self) -> str:
        """Return and forget the text written since the last `take()`."""
        if not self._pending:
            return ""
        text = "".join(self._pending)
        self._pending.clear()
        return text

    def close(self) -> None:
        """Finish the log: if anything was dropped, queue one note saying how much."""
        if self._closed:
            return
        self._closed = True
        if self.truncated:
            self._pending.append(
                f"\n[taskgate] log truncated: kept {self.kept_bytes} bytes, "
                f"dropped {self.dropped} bytes\n"
            )
