"""What happens when an execution ends, in the transaction that writes its end.

An execution reaches an end status in a few places: its attempt ends (engine), its server died
and it is taken over (engine/recovery), it is aborted before it started (core). Each of them
calls `Endings.fire` inside the transaction that writes the end, so whatever follows from it
(a chain rule's start, a workflow's next phase, a waiting parent) is committed together with
the end or not at all: a crash between the two cannot lose it, and a replayed end cannot do
it twice.

A hook gets the connection, the `Ended` record and an `AfterCommit` to fill with what must
happen once the transaction has committed (events to publish, starts to hand to the
executor). It may end further executions (a workflow whose last member ended): it returns
them and they are fired in turn, in the same transaction.

Starts that a concurrency policy skips at birth are answered to their starter in the start's
own result and fire no hook: they never ran.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import Connection

from taskgate.domain.endings import AfterCommit, Ended

__all__ = ["AbortHook", "AfterCommit", "EndHook", "Ended", "Endings"]

# How many generations of ends one end may cause in one transaction (a workflow in a workflow
# in ...): a guard against a hook that keeps ending things, not a limit anyone should meet.
MAX_CASCADE = 100


EndHook = Callable[[Connection, Ended, AfterCommit], Sequence[Ended]]
# Told of an abort asked for an execution that has started: one held by no process (a
# workflow waiting on its members) is stopped by the part that owns it. Returns its ends.
AbortHook = Callable[[Connection, str, AfterCommit], Sequence[Ended]]


class Endings:
    """The hooks that follow an execution's end, registered by the parts that need them."""

    def __init__(self) -> None:
        self._hooks: list[EndHook] = []
        self._abort_hooks: list[AbortHook] = []

    def add(self, hook: EndHook) -> None:
        self._hooks.append(hook)

    def add_abort(self, hook: AbortHook) -> None:
        self._abort_hooks.append(hook)

    def fire_abort(self, conn: Connection, execution_id: str, after: AfterCommit) -> None:
        """An abort was asked for a started execution: let its owner stop what it holds."""
        for hook in self._abort_hooks:
            self.fire(conn, hook(conn, execution_id, after), after)

    def fire(self, conn: Connection, ended: Iterable[Ended], after: AfterCommit) -> None:
        """Run every hook for each end, and for the ends those cause, in this transaction."""
        if not self._hooks:
            return
        generation = list(ended)
        for _ in range(MAX_CASCADE):
            if not generation:
                return
            caused: list[Ended] = []
            for end in generation:
                for hook in self._hooks:
                    caused.extend(hook(conn, end, after))
            generation = caused
        raise RuntimeError(f"ends kept causing ends after {MAX_CASCADE} generations")
