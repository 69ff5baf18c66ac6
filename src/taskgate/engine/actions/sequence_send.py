"""One request of a sequence on the wire: sent with httpx, tried again on a busy or broken
server within the step's and the run's time, logged with its secrets hidden, and its answer
parsed. The template rendering before it and the saving after it are the run's
(sequence.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from taskgate.domain.egress import EgressRefused, EgressRule, check_address
from taskgate.domain.expressions import as_text
from taskgate.domain.sequences import SequenceAction, SequenceRequest
from taskgate.domain.tasks import RetryPolicy
from taskgate.engine.actions.sequence_clock import RunClock

if TYPE_CHECKING:
    import httpx

REDACTED = "***"
# Statuses worth another try: the server is busy or broke for a moment.
_RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
_BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


class StepFailed(Exception):
    """A step that failed: `current` is what Jaseci would put in `$` (and in save_to)."""

    def __init__(self, message: str, current: dict[str, Any], located: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.current = current
        # True once the message names the step (the innermost list that saw it does that).
        self.located = located


def worker_error(message: str) -> StepFailed:
    return StepFailed(message, {"worker_error": message})


def is_json(content_type: str | None) -> bool:
    """`application/json` and every `application/<anything>+json` (problem, vnd.api, ...)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


@dataclass
class Redactor:
    """Hides secret values wherever a run shows data: log, save_req_to, result."""

    secrets: list[str] = field(default_factory=list)

    def text(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def deep(self, value: Any) -> Any:
        if not self.secrets:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.deep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.deep(v) for v in value]
        return value

    def url(self, url: str) -> str:
        """The URL as the log shows it: no user info, secrets hidden."""
        if not self.secrets and "@" not in url:
            return url
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        if parts.username is not None:
            host = f"{REDACTED}@{host}"
        return self.text(urlunsplit(parts._replace(netloc=host)))


class Sender:
    """Sends a run's requests on its client, within its clock; `log` writes to the run's log
    (the run's own writer, which hides its secrets)."""

    def __init__(
        self,
        spec: SequenceAction,
        client: httpx.AsyncClient,
        clock: RunClock,
        redact: Redactor,
        log: Callable[[str], None],
    ) -> None:
        self.spec = spec
        self.client = client
        self.clock = clock
        self.redact = redact
        self.log = log

    async def send(self, step: SequenceRequest, api: str, body: Any, header: Any) -> Any:
        """The step's answer (JSON decoded, else text); StepFailed when it failed."""
        import httpx

        headers = {str(k): as_text(v) for k, v in dict(header or {}).items()}
        if body is None and step.method == "POST":
            body = {}  # Jaseci posts an empty object when a POST has no body
        send_json = body is not None and step.method not in _BODYLESS
        policy = step.retries or self.spec.request_retries
        shown = self.redact.url(api)
        attempt = 1
        while True:
            own = step.timeout or self.spec.request_timeout
            timeout = min(own, self.clock.remaining())
            started = time.perf_counter()
            try:
                response = await self.clock.unless_stopped(
                    self.client.request(
                        step.method,
                        api,
                        headers=headers,
                        json=body if send_json else None,
                        timeout=timeout,
                    )
                )
            except EgressRefused as exc:
                self.log(f"{step.method} {shown} -> refused: {exc}\n")
                raise worker_error(f"refused: {exc}") from None
            except httpx.TimeoutException:
                if timeout < own:  # cut short by the sequence's own deadline
                    raise self.clock.timed_out() from None
                failure = worker_error(f"no answer within {timeout:g}s")
            except httpx.HTTPError as exc:
                failure = worker_error(f"request failed: {self.redact.text(str(exc))}")
            else:
                elapsed = (time.perf_counter() - started) * 1000
                size = len(response.content)
                self.log(
                    f"{step.method} {shown} -> {response.status_code} in {elapsed:.1f} ms, "
                    f"{size} bytes\n"
                )
                if response.status_code < 400:
                    return _parse(response)
                failure = StepFailed(
                    f"HTTP {response.status_code} {response.reason_phrase}",
                    {"status": response.status_code, "message": response.reason_phrase},
                )
                if response.status_code not in _RETRYABLE_STATUS:
                    raise failure
            if not _retry(policy, attempt):
                self.log(f"{step.method} {shown} -> {failure.message}\n")
                raise failure
            attempt += 1
            delay = policy.delay_before(attempt)
            self.log(f"{step.method} {shown} -> {failure.message}; try {attempt} in {delay:g}s\n")
            await self.clock.pause(delay)


def _retry(policy: RetryPolicy, attempt: int) -> bool:
    return policy.retries_after(attempt, failed=True)


def _parse(response: httpx.Response) -> Any:
    if not is_json(response.headers.get("content-type")):
        return response.text
    try:
        return response.json()
    except ValueError as exc:
        raise worker_error(f"the answer says it is JSON but is not: {exc}") from None


def egress_hook(rule: EgressRule) -> Callable[[httpx.Request], Awaitable[None]]:
    """Checked before every request httpx sends, redirects included."""
    resolved: dict[str, list[str]] = {}

    async def check(request: httpx.Request) -> None:
        host = request.url.host
        rule.check_host(host)
        addresses = resolved.get(host)
        if addresses is None:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, request.url.port or 0)
            except OSError as exc:
                raise EgressRefused(f"cannot resolve {host!r}: {exc}") from None
            addresses = [str(info[4][0]) for info in infos]
            for address in addresses:
                check_address(host, address)
            resolved[host] = addresses

    return check
