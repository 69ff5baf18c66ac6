"""Chain rules at work: the end hook that fires them, and the expiry of their windows.

Everything here runs inside a transaction that the caller commits: the end of the triggering
execution (the hook, registered with `Endings`) or the timer's sweep. A chained start is
written through `StartService.start_in` in that same transaction, so it is committed with the
end that fired it or not at all, and its firing key (the rule and the ends that fired it) is
taken in the same commit, so a replayed end finds the key taken and starts nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.endings import AfterCommit, Ended
from taskgate.core.starts.request import PendingStart, StartRequest
from taskgate.core.starts.service import StartService
from taskgate.domain.chains import (
    END_STATUSES,
    Chain,
    ChainLink,
    Trigger,
    Window,
    chain_depth,
    depth_allowed,
    firing_key,
    selector_names,
    template_scope,
)
from taskgate.domain.errors import TaskgateError
from taskgate.domain.executions import Caller
from taskgate.domain.expressions import ExpressionError, MissingValue, render_deep
from taskgate.domain.selectors import Selector, parse_selector
from taskgate.store import chains as chain_rows
from taskgate.store import executions as execution_rows
from taskgate.store import tasks as task_rows

log = logging.getLogger(__name__)


def chain_caller(chain_id: str) -> Caller:
    """Who a chained start is made by (in the audit log and on the execution)."""
    return Caller(f"chain:{chain_id}", scope="chain")


class ChainFiring:
    def __init__(self, starts: StartService, window_opened: Callable[[], None]) -> None:
        self.starts = starts
        # Told (after the commit) that a window opened: the timer looks at its expiry.
        self.window_opened = window_opened
        # The transactions (by their AfterCommit) in which the executor has claimed already.
        self._claimed: set[int] = set()
        # Each rule parsed, by id, with the version (`updated_at`) it was parsed at.
        self._parsed: dict[str, tuple[datetime, Chain]] = {}
        # The enabled rules' versions as last read, and those rules.
        self._last: tuple[list[tuple[str, datetime]], list[Chain]] = ([], [])
        # On SQLite: the enabled rules as last read, and the generation of the rules then
        # (-1: none).
        self._rules: list[Chain] = []
        self._generation = -1

    # --- the end hook -------------------------------------------------------------------

    def _enabled(self, conn: Connection) -> list[Chain]:
        """The enabled rules, read on every end (another server may have changed them): their
        ids and versions only, and the full rows of those that changed since they were
        parsed; every end of every execution passes here. On SQLite this process is the only
        writer: read again only after it wrote a rule."""
        generation = chain_rows.generation()
        alone = conn.dialect.name == "sqlite"
        if alone and generation == self._generation:
            return self._rules
        versions = chain_rows.enabled_versions(conn)
        last_versions, last_rules = self._last
        if versions == last_versions:
            rules = last_rules
        else:
            rules, exact = self._current(conn, versions)
            if exact:  # else a later read of these versions must not take these rules
                # Shared by the ends of other threads (PostgreSQL): replaced as one.
                self._last = (versions, rules)
        self._rules = rules
        self._generation = generation if alone else -1
        return rules

    def _current(
        self, conn: Connection, versions: list[tuple[str, datetime]]
    ) -> tuple[list[Chain], bool]:
        """The rules at (at least) these versions: the parsed ones that are, and the others
        read again (one deleted or disabled since `versions` were read drops out); and
        whether they are exactly these versions (no rule changed between the two reads)."""
        parsed = self._parsed
        known: dict[str, tuple[datetime, Chain]] = {}
        stale: list[str] = []
        for cid, at in versions:
            cached = parsed.get(cid)
            if cached is not None and cached[0] == at:
                known[cid] = cached
            else:
                stale.append(cid)
        if stale:
            for row in chain_rows.enabled_rows_of(conn, stale):
                known[row.id] = (row.updated_at, chain_rows.to_chain(row))
        self._parsed = known
        exact = len(known) == len(versions) and all(known[cid][0] == at for cid, at in versions)
        return [known[cid][1] for cid, _ in versions if cid in known], exact

    def on_end(self, conn: Connection, end: Ended, after: AfterCommit) -> Sequence[Ended]:
        if end.status not in END_STATUSES:
            return []
        rules = self._enabled(conn)
        if not rules:
            return []
        row = execution_rows.get_row(conn, end.execution_id)
        if row is None:
            return []
        trigger = Trigger(
            execution_id=end.execution_id,
            task_id=end.task_id,
            task_name=row.task_name,
            status=end.status,
            at=end.at,
            depth=row.chain_depth or 0,
            params=row.params or {},
            result=row.result,
        )
        found: dict[Selector, bool] = {}
        spec = row.task_spec or {}

        def names_this_task(text: str) -> bool:
            selector = parse_selector(text)
            if selector not in found:
                names = selector_names(selector, end.task_id, spec)
                if names is None:  # only the resolver knows (a bare name): ask it
                    names = end.task_id in {t.key for t in task_rows.find(conn, selector)}
                found[selector] = names
            return found[selector]

        for rule in rules:
            hits = [
                i
                for i, condition in enumerate(rule.when)
                if condition.counts(end.status) and names_this_task(condition.task)
            ]
            if not hits:
                continue
            if rule.windowed:
                self._into_window(conn, rule, hits, trigger, after)
            else:
                self._fire(conn, rule, [trigger], after, end.at)
        return []

    def _into_window(
        self, conn: Connection, rule: Chain, hits: list[int], trigger: Trigger, after: AfterCommit
    ) -> None:
        """Note the end in the rule's window (opening one if none is open); fire when it
        completes the window."""
        if not chain_rows.lock(conn, rule.id):
            return  # deleted meanwhile
        window = chain_rows.window(conn, rule.id)
        if window is not None and window.expired(trigger.at):
            self._expire(conn, rule, window, after, trigger.at)
            window = None
        if window is not None and any(
            t.execution_id == trigger.execution_id for t in window.met.values()
        ):
            return  # a replayed end
        fresh = window is None
        if window is None:
            window = Window.open(rule, trigger.at)
        for index in hits:
            window.met[index] = trigger
        if window.complete(rule):
            if not fresh:
                chain_rows.drop_window(conn, rule.id)
            self._fire(conn, rule, window.fired(rule), after, trigger.at)
            return
        chain_rows.put_window(conn, rule.id, window, insert=fresh)
        if fresh:
            after.then(self.window_opened)

    # --- expiry -------------------------------------------------------------------------

    def expire_due(self, conn: Connection, now: datetime, after: AfterCommit) -> int:
        """Close the windows whose time is up (each once, whichever server gets to it)."""
        closed = 0
        for chain_id in chain_rows.expired_windows(conn, now):
            # Another server's sweep (or an end) holds it: that one closes it.
            if not chain_rows.lock(conn, chain_id, skip_locked=True):
                continue
            window = chain_rows.window(conn, chain_id)
            if window is None or not window.expired(now):
                continue
            rule = chain_rows.get(conn, chain_id)
            if rule is None:
                continue
            self._expire(conn, rule, window, after, now)
            closed += 1
        return closed

    def _expire(
        self, conn: Connection, rule: Chain, window: Window, after: AfterCommit, now: datetime
    ) -> None:
        chain_rows.drop_window(conn, rule.id)
        fired = window.fired(rule)
        if rule.enabled and rule.on_expiry == "fire" and window.met:
            self._fire(conn, rule, fired, after, now)
            return
        missing = [rule.when[i].task for i, t in enumerate(fired) if t is None]
        firing = chain_rows.claim_firing(conn, rule.id, "expired:" + firing_key(fired)[:55], now)
        if firing is not None:
            chain_rows.record_firing(
                conn,
                firing,
                outcome="expired",
                triggered_by=_ids(fired),
                execution_ids=[],
                message=f"window expired; still missing: {', '.join(missing)}",
            )

    # --- firing -------------------------------------------------------------------------

    def _fire(
        self,
        conn: Connection,
        rule: Chain,
        fired: list[Trigger | None],
        after: AfterCommit,
        now: datetime,
    ) -> None:
        firing = chain_rows.claim_firing(conn, rule.id, firing_key(fired), now or utcnow())
        if firing is None:
            return  # these ends fired this rule before: a replayed end
        triggered_by = _ids(fired)
        depth = chain_depth(fired)

        def record(outcome: str, execution_ids: list[str], message: str) -> None:
            chain_rows.record_firing(
                conn,
                firing,
                outcome=outcome,
                triggered_by=triggered_by,
                execution_ids=execution_ids,
                message=message,
            )

        if not depth_allowed(rule, depth):
            message = f"not started: chain depth {depth} is over the limit"
            log.warning("chain %s after %s: %s", rule.id, ", ".join(triggered_by), message)
            record("depth_limit", [], message)
            return
        try:
            params: dict[str, Any] = render_deep(rule.params, template_scope(fired), where="params")
            request = StartRequest(
                selectors=[parse_selector(text) for text in rule.start],
                origin="chain",
                caller=chain_caller(rule.id),
                params=params,
                chain=ChainLink(rule.id, tuple(triggered_by), depth),
            )
            pending = self.starts.start_in(conn, request)
        except (TaskgateError, ExpressionError, MissingValue) as exc:
            message = f"not started: {getattr(exc, 'message', None) or exc}"
            log.warning("chain %s after %s: %s", rule.id, ", ".join(triggered_by), message)
            record("refused", [], message)
            return
        result = pending.result
        unmatched = [f"{r.selector}: {r.message}" for r in result.results if r.message]
        record("started", [e.id for e in result.executions], "; ".join(unmatched))
        chain_rows.add_fire_count(conn, rule.id)
        claimed = self._claim_once(conn, after, bool(result.started))
        done = PendingStart(pending.result, pending.events, pending.replayed, claimed)
        after.then(lambda: self.starts.after_commit(done))

    def _claim_once(
        self, conn: Connection, after: AfterCommit, started: bool
    ) -> Sequence[object] | None:
        """Let the executor claim the chained starts in the end's own transaction, as a plain
        start does in its own (no dispatcher wake-up between A's end and B's process). Once
        per transaction: two claims would each count the same free slots. Later starts of the
        same transaction wake the dispatcher instead (None)."""
        key = id(after)
        if not started or key in self._claimed:
            return None
        self._claimed.add(key)
        after.then(lambda: self._claimed.discard(key))
        return self.starts.claim_in(conn, started)


def _ids(fired: Sequence[Trigger | None]) -> list[str]:
    return [t.execution_id for t in fired if t is not None]
