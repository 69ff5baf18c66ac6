"""The `sequence` action: a chain of HTTP requests, Jaseci's ScheduledSequence without its traps.

Each step is templated just before it runs (`#` persistence, `$` current, `@` loop item,
`!` loop index), sent with httpx, and its answer becomes `$`; `save_to` (templated after the
request, against its own answer) stores it in the persistence dict, which is the run's result.
A step that fails without `ignore_error` ends the run `finished_fail`, keeping what was
saved up to then. The spec and its checks are in domain/sequences.py; the differences from
Jaseci in docs/jaseci.md.

Here: the request lists, each step's templates and `save_to`, loops and the run's outcome.
Beside it: sending one request (sequence_send.py), the run's deadline and abort
(sequence_clock.py), TASK steps (sequence_tasks.py), key-value values (sequence_kv.py).
"""

from __future__ import annotations

import copy
import json
import ssl
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from taskgate.domain.egress import EgressRule
from taskgate.domain.expressions import (
    Condition,
    ExpressionError,
    MissingValue,
    as_text,
    render_deep,
)
from taskgate.domain.expressions.jaseci import (
    jaseci_path,
    parse_filter,
    sanitize_key,
    scope,
)
from taskgate.domain.expressions.paths import MISSING, Path, kind_of, walk
from taskgate.domain.sequences import TASK_METHOD, Loop, SequenceAction, SequenceRequest
from taskgate.domain.status import EndReason, Status
from taskgate.engine.actions.contract import (
    ActionContext,
    ActionOutcome,
    ActionRunner,
    Park,
    Resources,
)
from taskgate.engine.actions.registry import register
from taskgate.engine.actions.sequence_clock import RunClock, Stopped
from taskgate.engine.actions.sequence_kv import RunValues, RunValuesSource
from taskgate.engine.actions.sequence_send import (
    Redactor,
    Sender,
    StepFailed,
    egress_hook,
    worker_error,
)
from taskgate.engine.actions.sequence_tasks import STATE_KEY, TaskStart, TaskSteps

if TYPE_CHECKING:
    import httpx


class TaskStepReached(Exception):
    """A TASK step: the run parks here and goes on after the task ends."""

    def __init__(self, selector: str, params: dict[str, Any]) -> None:
        super().__init__(selector)
        self.selector = selector
        self.params = params
        self.number = 0


class SequenceRun:
    """One attempt of a sequence: its persistence dict, its clock and its sender."""

    def __init__(
        self,
        spec: SequenceAction,
        ctx: ActionContext,
        client: httpx.AsyncClient,
        redactor: Redactor,
        saved: dict[str, Any] | None = None,
    ) -> None:
        self.spec = spec
        self.ctx = ctx
        self.redact = redactor
        limit = min(spec.timeout, ctx.timeout) if ctx.timeout else spec.timeout
        # The whole run's deadline, kept across the attempts a TASK step splits it into.
        self.ends_at = time.time() + limit
        # A run resumed after a TASK step: where, with what it had saved, and the outcome.
        self.resume: dict[str, Any] | None = None
        if saved is not None and isinstance(saved.get("child"), dict):
            self.resume = saved
            self.persistence = saved["persistence"]
            self.ends_at = float(saved["ends_at"])
        else:
            self.persistence = {**copy.deepcopy(spec.persistence), **ctx.params}
        self.clock = RunClock(ctx.abort, limit, self.ends_at)
        self.sender = Sender(spec, client, self.clock, redactor, self._log)
        self.steps = 0
        self.kv: dict[str, dict[str, str]] = {}

    def _filter(self, raw: list[Any]) -> Condition:
        """A step's filter (checked when the task was saved), parsed once per content."""
        return _parsed_filter(json.dumps(raw, sort_keys=True))

    def _log(self, text: str) -> None:
        self.ctx.log.write(self.redact.text(text))

    def _scope(self, current: Any, item: Any, index: str) -> dict[str, Any]:
        return scope(self.persistence, current, item, index, self.kv)

    # -- the request lists --------------------------------------------------------------------
    async def run_list(
        self,
        requests: list[SequenceRequest],
        current: Any,
        item: Any,
        index: str,
        where: str,
        first: int = 0,
        resumed: dict[str, Any] | None = None,
    ) -> None:
        """Jaseci's loop over one request list (§7.2); a failure without ignore_error raises.
        `first` and `resumed`: go on after a TASK step, whose outcome `resumed` is."""
        for number in range(first, len(requests)):
            step = requests[number]
            at = f"{where}.{number}"
            try:
                if resumed is not None and number == first:
                    current = self._task_ended(step, resumed, at)
                else:
                    current = await self.run_step(step, current, item, index, at)
            except TaskStepReached as reached:
                reached.number = number
                raise
            except StepFailed as failed:
                current = failed.current
                self._save(step.save_to, current, item, index, fallback=True)
                if not step.ignore_error:
                    if failed.located:
                        raise
                    message = f"{at} ({step.method} {step.api}): {failed.message}"
                    raise StepFailed(message, failed.current, located=True) from None
                self._log(f"{at}: error ignored\n")
            if step.break_ is not None:
                verdict = self._filter(step.break_).evaluate(self._scope(current, item, index))
                if verdict.ok:
                    self._log(f"{at}: break ({verdict.reason})\n")
                    return

    async def run_step(
        self, step: SequenceRequest, current: Any, item: Any, index: str, where: str
    ) -> Any:
        self.clock.check()
        here = self._scope(current, item, index)
        api = self._render(step.api, here, "api")
        body = self._render(step.body, here, "body")
        header = self._render(step.header, here, "header")
        if not isinstance(api, str):
            raise worker_error(f"api is {kind_of(api)}, not text")
        if step.save_req_to is not None:
            name = self._render(step.save_req_to, here, "save_req_to")
            request = {"method": step.method, "api": api, "body": body, "header": header}
            self.persistence[sanitize_key(as_text(name))] = self.redact.deep(request)
        if step.method == TASK_METHOD:
            self._log(f"TASK {api}: waiting for it without a slot\n")
            raise TaskStepReached(api, body if isinstance(body, dict) else {})
        else:
            response = await self.sender.send(step, api, body, header)
        self.steps += 1
        if step.def_loop is not None:
            await self._loop(step.def_loop, response, item, index, where)
        self._save(step.save_to, response, item, index)
        return response

    def _task_ended(self, step: SequenceRequest, outcome: dict[str, Any], at: str) -> Any:
        """The outcome of the TASK step the run waited for, as its `$`."""
        status = outcome.get("status")
        self._log(f"TASK {step.api} -> {status} ({outcome.get('execution_id')})\n")
        self.steps += 1
        if status != Status.FINISHED_SUCCESS.value:
            message = outcome.get("message") or ""
            raise StepFailed(f"the task ended {status}: {message}".rstrip(": "), outcome)
        self._save(step.save_to, outcome, {}, "0")
        return outcome

    async def _loop(self, loop: Loop, response: Any, item: Any, index: str, where: str) -> None:
        path = _parsed_path(loop.by)
        here = self._scope(response, item, index)
        items, why = walk(path, here, here)
        if items is MISSING:
            raise worker_error(f"__def_loop__.by {loop.by}: {why}")
        if not isinstance(items, list):
            raise worker_error(f"__def_loop__.by {loop.by} is {kind_of(items)}, not a list")
        keep = self._filter(loop.filter)
        for number, each in enumerate(items):
            self.clock.check()
            if not keep.evaluate(self._scope(each, each, str(number))).ok:
                continue
            await self.run_list(
                loop.requests, each, each, str(number), f"{where}.__def_loop__[{number}].requests"
            )

    def _save(
        self, save_to: str | None, response: Any, item: Any, index: str, fallback: bool = False
    ) -> None:
        """`save_to`, templated now, against this step's own answer as `$`."""
        if save_to is None:
            return
        try:
            name = as_text(render_deep(save_to, self._scope(response, item, index)))
        except (ExpressionError, MissingValue) as exc:
            if not fallback:
                raise worker_error(f"save_to: {exc}") from None
            name = save_to  # saving a failure must not fail: keep the name as written
        self.persistence[sanitize_key(name)] = response

    def _render(self, value: Any, here: dict[str, Any], where: str) -> Any:
        try:
            return render_deep(value, here, where=where)
        except MissingValue as exc:
            raise worker_error(f"{exc.path}: {exc.why}") from None
        except ExpressionError as exc:
            raise worker_error(f"{where}: {exc.message}") from None


@lru_cache(maxsize=1024)
def _parsed_filter(text: str) -> Condition:
    return parse_filter(json.loads(text))


@lru_cache(maxsize=1024)
def _parsed_path(text: str) -> Path:
    return jaseci_path(text)


class SequenceRunner(ActionRunner[SequenceAction]):
    def __init__(self, resources: Resources) -> None:
        self.egress = resources.get(EgressRule) or EgressRule.of()
        self.values = resources.get(RunValuesSource)
        self.tasks = resources.get(TaskSteps)
        self._tls: ssl.SSLContext | None = None

    def _tls_context(self) -> ssl.SSLContext:
        # Loading the CA bundle takes milliseconds: once per server, not once per run.
        if self._tls is None:
            import httpx

            self._tls = httpx.create_ssl_context()
        return self._tls

    async def run(self, spec: SequenceAction, ctx: ActionContext) -> ActionOutcome:
        import httpx

        rule = EgressRule.of(
            sorted(self.egress.names),
            [f"*{s}" for s in self.egress.suffixes],
            [str(n) for n in self.egress.networks],
            spec.allowed_hosts,
        )
        values = RunValues()
        if self.values is not None and ctx.task.kv_namespaces:
            values = await self.values.load(ctx.task.kv_namespaces)
        async with httpx.AsyncClient(
            follow_redirects=True,
            event_hooks={"request": [egress_hook(rule)]},
            verify=self._tls_context(),
        ) as client:
            saved = await self.tasks.saved(ctx.execution_id) if self.tasks else None
            run = SequenceRun(spec, ctx, client, Redactor(values.secrets), saved)
            run.kv = values.values
            return await finish(run, ctx, self.tasks)


async def finish(
    run: SequenceRun, ctx: ActionContext, tasks: TaskSteps | None = None
) -> ActionOutcome:
    """Run the top-level list and say how it ended; the result is the persistence dict."""
    first = run.persistence  # at the first top-level step, `$` is the persistence dict
    resume = run.resume
    try:
        if resume is None:
            await run.run_list(run.spec.requests, first, {}, "0", "requests")
        else:
            number = int(resume["at"])
            await run.run_list(
                run.spec.requests, None, {}, "0", "requests", number, resume["child"]
            )
    except TaskStepReached as reached:
        if tasks is None:
            return _outcome(run, Status.ERROR, "TASK steps cannot run on this server")
        return _parked(run, ctx, tasks, reached)
    except StepFailed as failed:
        ctx.log.write(f"failed: {run.redact.text(failed.message)}\n")
        return _outcome(run, Status.FINISHED_FAIL, run.redact.text(failed.message))
    except Stopped as stopped:
        ctx.log.write(f"{stopped.message}\n")
        return _outcome(run, stopped.status, stopped.message, stopped.reason)
    return _outcome(run, Status.FINISHED_SUCCESS, f"{run.steps} steps")


def _parked(
    run: SequenceRun, ctx: ActionContext, tasks: TaskSteps, reached: TaskStepReached
) -> ActionOutcome:
    """Wait for the TASK step's task without a slot: start it as the run parks."""
    state = {
        STATE_KEY: {
            "at": reached.number,
            "persistence": run.persistence,
            "shown": _shown(run),
            "ends_at": run.ends_at,
        }
    }
    step = TaskStart(ctx.execution_id, reached.selector, reached.params)
    message = f"waiting for TASK {reached.selector}"
    return ActionOutcome(
        Status.STARTED,
        message=message,
        park=Park(state, lambda conn, after: tasks.start(conn, after, step)),
    )


def _shown(run: SequenceRun) -> Any:
    """The persistence dict as the run shows it: secrets hidden, as JSON (what is not JSON
    as its text)."""
    result = run.redact.deep(run.persistence)
    try:
        json.dumps(result)
    except (TypeError, ValueError):
        result = json.loads(json.dumps(result, default=str))
    return result


def _outcome(
    run: SequenceRun, status: Status, message: str, reason: EndReason | None = None
) -> ActionOutcome:
    return ActionOutcome(status, None, message, _shown(run), reason=reason)


register("sequence", SequenceAction, SequenceRunner)
