"""The live event stream over real HTTP: order, filters, resuming, and `executions follow`."""

from __future__ import annotations

import contextlib
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from taskgate.client import ServerEvent, TaskgateClient
from tests.conftest import ServerProcess
from tests.support import abort, create_task, error_json, start_one, unique, wait_execution


class _ShutdownTransport(httpx.HTTPTransport):
    """Keeps the sockets of its responses, so that `shutdown()` can end a stream that another
    thread is blocked reading: closing the client (or a socket) does not wake that thread, nor
    tell the server, whose graceful stop then waits its full timeout for the stream to end."""

    def __init__(self) -> None:
        super().__init__()
        self._sockets: list[socket.socket] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            self._sockets.append(sock)
        return response

    def shutdown(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Stream:
    """Reads the stream in a thread; `next()` waits for the next event with a deadline."""

    def __init__(self, server: ServerProcess, **filters: Any) -> None:
        self._transport = _ShutdownTransport()
        self._client = TaskgateClient(server.url, transport=self._transport)
        self._events: queue.Queue[ServerEvent] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(filters,), daemon=True)
        self._thread.start()
        assert self.next().type == "connected"

    def _read(self, filters: dict[str, Any]) -> None:
        try:
            for event in self._client.events(**filters):
                self._events.put(event)
        except Exception:  # the client was closed under it: the test is over
            return

    def next(self, timeout: float = 30) -> ServerEvent:
        return self._events.get(timeout=timeout)

    def executions(self, count: int) -> list[ServerEvent]:
        return [self.next() for _ in range(count)]

    def statuses_until(
        self, enough: Callable[[dict[str, set[str]]], bool], timeout: float = 60
    ) -> dict[str, set[str]]:
        """The execution ids seen in each status, read until `enough` of them are, or until
        no event came for `timeout` seconds (the caller asserts what is missing)."""
        seen: dict[str, set[str]] = {}
        while not enough(seen):
            try:
                event = self.next(timeout)
            except queue.Empty:
                return seen
            if event.type == "execution":
                seen.setdefault(event.data["status"], set()).add(event.data["execution_id"])
        return seen

    def nothing_more(self) -> bool:
        return self._events.empty()

    def close(self) -> None:
        self._transport.shutdown()  # first: closing the client closes the socket
        self._client.close()  # the reader's next attempt to reconnect ends its thread


OpenStream = Callable[..., Stream]


@pytest.fixture
def stream(server: ServerProcess) -> Iterator[OpenStream]:
    opened: list[Stream] = []

    def open_stream(**filters: Any) -> Stream:
        opened.append(Stream(server, **filters))
        return opened[-1]

    yield open_stream
    for each in opened:
        each.close()


def test_a_run_is_seen_in_order(stream: OpenStream, client: httpx.Client) -> None:
    watching = stream(task=["quick"])
    execution_id = start_one(client, "label:quick")
    wait_execution(client, execution_id)
    events = watching.executions(3)
    assert [e.data["status"] for e in events] == ["queued", "started", "finished_success"]
    assert {e.data["execution_id"] for e in events} == {execution_id}
    seqs = [int(str(e.id).rsplit("-", 1)[1]) for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert events[2].data["exit_code"] == 0 and events[2].data["duration_ms"] is not None


def test_a_run_that_cannot_start_is_seen_in_order(stream: OpenStream, client: httpx.Client) -> None:
    # Its end is written before the loop turns again: its news still comes first.
    label = unique("nostart")
    create_task(
        client,
        {
            "name": "No program",
            "label": label,
            "action": {"kind": "command", "argv": ["nope-taskgate-missing"]},
        },
    )
    watching = stream(task=[label])
    execution_id = start_one(client, f"label:{label}")
    assert wait_execution(client, execution_id)["status"] == "error"
    events = watching.executions(3)
    assert [e.data["status"] for e in events] == ["queued", "started", "error"]
    assert {e.data["execution_id"] for e in events} == {execution_id}


def test_filters(stream: OpenStream, client: httpx.Client) -> None:
    failures = stream(status=["finished_fail"])
    quick_id = start_one(client, "label:quick")
    fail_id = start_one(client, "label:fail")
    wait_execution(client, quick_id)
    wait_execution(client, fail_id)
    [event] = failures.executions(1)
    assert event.data["execution_id"] == fail_id
    by_execution = stream(execution=[quick_id])
    assert by_execution.nothing_more()


def test_resume_after_the_last_event_id(
    stream: OpenStream, client: httpx.Client, server: ServerProcess
) -> None:
    first = stream(task=["quick"])
    execution_id = start_one(client, "label:quick")
    wait_execution(client, execution_id)
    events = first.executions(3)
    # A client that saw only the first event comes back with its id: it gets the other two.
    resumed = stream(execution=[execution_id], last_event_id=events[0].id)
    again = resumed.executions(2)
    assert [e.id for e in again] == [e.id for e in events[1:]]
    assert resumed.nothing_more()
    # An id from an earlier server process: everything still kept is sent again.
    other = stream(execution=[execution_id], last_event_id="0-99")
    assert [e.id for e in other.executions(3)] == [e.id for e in events]


def test_a_malformed_last_event_id_is_422(client: httpx.Client) -> None:
    answer = client.get("/api/v1/events", headers={"Last-Event-ID": "yesterday"})
    assert error_json(answer, 422, "invalid")["field"] == "Last-Event-ID"
    bad_status = client.get("/api/v1/events", params={"status": "done"})
    assert error_json(bad_status, 422, "invalid")["field"] == "query.status.0"


@pytest.mark.parametrize(
    ("label", "code", "final"), [("quick", 0, "finished_success"), ("fail", 1, "finished_fail")]
)
def test_cli_follow(
    server: ServerProcess, client: httpx.Client, label: str, code: int, final: str
) -> None:
    execution_id = start_one(client, f"label:{label}")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "taskgate",
            "executions",
            "follow",
            execution_id,
            "--url",
            server.url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == code, done.stdout + done.stderr
    assert final in done.stdout


def test_a_workflows_stream_takes_its_members_events(
    stream: OpenStream, client: httpx.Client
) -> None:
    label = unique("wf")
    create_task(
        client,
        {
            "name": f"Flow {label}",
            "label": label,
            "action": {"kind": "workflow", "phases": [["slow"]]},
        },
    )
    flow_id = start_one(client, f"label:{label}")
    other = start_one(client, "label:slow")
    watching = stream(workflow=[flow_id])
    abort(client, flow_id)
    seen: list[dict[str, Any]] = []
    while not any(e["execution_id"] == flow_id and e["status"] == "aborted" for e in seen):
        seen.append(watching.next().data)
    members = {e["execution_id"] for e in seen if e["execution_id"] != flow_id}
    assert members and all(e["parent_id"] == flow_id for e in seen if e["execution_id"] in members)
    assert other not in members
    abort(client, other)
