"""What a check finds due, and what the misfire policy makes of it. Pure: no clock, no I/O.

A slot is *missed* when the check comes more than the grace period after its fire time (the
server was down, or busy). Slots within the grace period run as usual. For missed slots:

- `skip`: they do not run; one history entry says how many and which;
- `once`: every slot due at this check, missed or not, is covered by one run (the newest);
- `all`: each runs, newest `limit` of them at most; older ones beyond that are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from taskgate.schedules.spec import FireOutcome, Misfire
from taskgate.schedules.triggers import Trigger

# A long downtime of a one-second schedule must not make one check walk millions of slots.
SCAN_LIMIT = 10_000


@dataclass(frozen=True)
class Run:
    slot: datetime
    outcome: FireOutcome
    from_slot: datetime | None = None
    slots: int = 1


@dataclass(frozen=True)
class Skip:
    from_slot: datetime
    slot: datetime  # the newest slot skipped
    slots: int


@dataclass
class Plan:
    runs: list[Run] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    next_slot: datetime | None = None
    scan_cut: bool = False  # more slots were due than SCAN_LIMIT; counts are lower bounds


def plan(
    trigger: Trigger,
    *,
    slot: datetime,
    fire_at: datetime,
    now: datetime,
    policy: Misfire,
    grace: timedelta,
    limit: int,
) -> Plan:
    """`slot` (due at `fire_at`, which includes any jitter) is due at `now`; decide."""
    due = [slot]
    following = trigger.next_after(slot)
    while following is not None and following <= now and len(due) < SCAN_LIMIT:
        due.append(following)
        following = trigger.next_after(following)
    result = Plan()
    if following is not None and following <= now:
        result.scan_cut = True
        following = trigger.next_after(now)
    result.next_slot = following

    def missed(index: int) -> bool:
        return now - (fire_at if index == 0 else due[index]) > grace

    late = [s for i, s in enumerate(due) if missed(i)]
    on_time = due[len(late) :]
    if not late:
        result.runs = [Run(s, FireOutcome.FIRED) for s in on_time]
    elif policy is Misfire.SKIP:
        result.skips = [Skip(late[0], late[-1], len(late))]
        result.runs = [Run(s, FireOutcome.FIRED) for s in on_time]
    elif policy is Misfire.ONCE:
        result.runs = [Run(due[-1], FireOutcome.CAUGHT_UP, due[0], len(due))]
    else:
        kept = due[-limit:]
        dropped = due[: len(due) - len(kept)]
        if dropped:
            result.skips = [Skip(dropped[0], dropped[-1], len(dropped))]
        late_set = set(late)
        result.runs = [
            Run(s, FireOutcome.CAUGHT_UP if s in late_set else FireOutcome.FIRED) for s in kept
        ]
    return result
