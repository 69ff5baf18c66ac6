"""What the command line shows while it waits for runs: on a terminal, a spinner over a
table redrawn a few times a second; elsewhere (a cron job's mail, a CI log), one dated line
per status change, so that the output stays readable as text."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Generic, Self, TypeVar

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from taskgate.cli.output import status_text

T = TypeVar("T")


class LiveDisplay(Generic[T]):
    """Shows the latest `T` it was given. A subclass says what changed (`changes`: a key, its
    status and the line's label each) and what the live view shows (`headline`, `body`);
    `shown` holds the statuses already known, which are not printed again."""

    def __init__(self, console: Console, latest: T, shown: dict[str, Any] | None = None) -> None:
        self._console = console
        self._latest = latest
        self._shown: dict[str, Any] = dict(shown or {})
        self._began = time.monotonic()
        self._spinner = Spinner("dots")
        self._live: Live | None = None
        if console.is_terminal:
            self._live = Live(self, console=console, transient=True, refresh_per_second=4)

    def __enter__(self) -> Self:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.stop()

    def update(self, latest: T) -> None:
        self._latest = latest
        if self._live is not None:
            return
        for key, status, label in self.changes(latest):
            if self._shown.get(key) != status:
                self._shown[key] = status
                line = Text(f"{datetime.now():%H:%M:%S} ")
                line.append_text(label)
                line.append_text(status_text(status))
                self._console.print(line, soft_wrap=True)

    def __rich__(self) -> RenderableType:
        elapsed = int(time.monotonic() - self._began)
        self._spinner.update(text=Text(self.headline(self._latest, elapsed)))
        return Group(self._spinner, self.body(self._latest))

    def changes(self, latest: T) -> Iterable[tuple[str, Any, Text]]:
        raise NotImplementedError

    def headline(self, latest: T, elapsed: int) -> str:
        raise NotImplementedError

    def body(self, latest: T) -> RenderableType:
        raise NotImplementedError
