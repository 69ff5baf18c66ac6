"""Sequences and the Jaseci door: taskgate's own cost per sequence step, and queue wait.

1. A 20-step sequence against a local JSON server (a subprocess on a free loopback port), run
   in this process by the `sequence` runner, against the same 20 requests sent with httpx
   alone (a new client each run, as the runner makes one per run). Each round runs both, in
   turn; the overhead per step is (sequence - raw) / 20: templating, filters, egress check,
   the log line, saving. Target: p50 <= 0.5 ms.
2. `GET /js/walker_queue_wait` on an execution that has already ended, against a real
   `taskgate serve` (SQLite unless --database-url). Target: p50 <= 2 ms.

    .venv/bin/python bench/sequence_bench.py [--rounds 200] [--waits 1000]
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

from common import Server, Summary, machine_line, parser, spread_table, verdict
from taskgate.domain.egress import EgressRule
from taskgate.domain.sequences import SequenceAction
from taskgate.domain.tasks import Task
from taskgate.engine.actions.contract import ActionContext, Resources, RunFiles
from taskgate.engine.actions.sequence import SequenceRunner
from taskgate.engine.logcollector import LogCollector

STEPS = 20
TARGET_STEP_MS = 0.5
TARGET_WAIT_MS = 2.0

# A small JSON server in its own process, so it does not share this process's interpreter.
SERVER = textwrap.dedent(
    """
    import json, socket
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def setup(self):
            super().setup()
            # headers and body go out in two writes: without this, Nagle and delayed ACKs
            # add 40 ms to every answer
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        def do_GET(self):
            n = self.path.rsplit("/", 1)[-1]
            body = json.dumps({"id": n, "state": "open", "token": "t-1",
                               "items": [{"k": i} for i in range(5)]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


def sequence(base: str) -> dict[str, Any]:
    """20 steps, each templated (URL, a header, save_to from its own answer) with a filter."""
    steps = [
        {
            "method": "GET",
            "api": "{{#.base}}/items/" + str(n),
            "header": {"Authorization": 'token {{#.token ?? "none"}}', "X-Prev": "{{$.id ?? 0}}"},
            "save_to": "item_{{$.id}}",
            "break": [{"by": "$.state", "condition": {"eq": "closed"}}],
        }
        for n in range(STEPS)
    ]
    return {"kind": "sequence", "persistence": {"base": base}, "requests": steps}


Measures = tuple[list[float], list[float], list[float], list[float]]


def measure_steps(base: str, rounds: int) -> Measures:
    spec = SequenceAction.model_validate(sequence(base))
    task = Task.model_validate(
        {
            "id": "00000000-0000-0000-0000-0000000000b1",
            "name": "bench",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "action": spec.model_dump(by_alias=True),
        }
    )
    runner = SequenceRunner(Resources(EgressRule.of(["127.0.0.1"])))
    urls = [f"{base}/items/{n}" for n in range(STEPS)]

    tls = httpx.create_ssl_context()  # the runner, too, loads the CA bundle once

    async def raw() -> tuple[float, float]:
        began, cpu = time.perf_counter(), time.process_time()
        async with httpx.AsyncClient(verify=tls) as client:
            for url in urls:
                response = await client.get(url, headers={"Authorization": "token none"})
                response.json()
        return time.perf_counter() - began, time.process_time() - cpu

    async def sequenced(folder: Path) -> tuple[float, float]:
        ctx = ActionContext(
            execution_id="bench",
            task=task,
            attempt=1,
            params={},
            log=LogCollector(1 << 20),
            files=RunFiles.of(folder, "bench"),
            abort=asyncio.Event(),
            timeout=None,
            public_url="http://127.0.0.1:1",
            issue_token=lambda: "",
            kill_grace=0.1,
        )
        began, cpu = time.perf_counter(), time.process_time()
        outcome = await runner.run(spec, ctx)
        took = time.perf_counter() - began, time.process_time() - cpu
        if outcome.status.value != "finished_success":
            raise SystemExit(f"the sequence failed: {outcome.message}")
        return took

    async def go(folder: Path) -> Measures:
        raws: list[tuple[float, float]] = []
        seqs: list[tuple[float, float]] = []
        for _ in range(10):  # warm up both paths
            await raw()
            await sequenced(folder)
        for _ in range(rounds):
            raws.append(await raw())
            seqs.append(await sequenced(folder))
        pairs = list(zip(seqs, raws, strict=True))
        overhead = [(s[0] - r[0]) / STEPS * 1000 for s, r in pairs]
        overhead_cpu = [(s[1] - r[1]) / STEPS * 1000 for s, r in pairs]
        per_raw = [r[0] / STEPS * 1000 for r in raws]
        per_seq = [s[0] / STEPS * 1000 for s in seqs]
        return overhead, overhead_cpu, per_raw, per_seq

    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(go(Path(folder)))


def measure_wait(args: Any) -> tuple[list[float], float]:
    quick = {
        "id": "00000000-0000-0000-0000-0000000000b2",
        "name": "bench-quick",
        "label": "bench-quick",
        "concurrency": {"overlap": "allow", "max_running": 10},
        "action": {"kind": "command", "argv": [sys.executable, "-c", "print('done')"]},
    }
    extra = {"auth": "none", "jaseci": {"enabled": True}}
    server = Server([quick], database_url=args.database_url, keep=args.keep, extra_config=extra)
    with server as srv, httpx.Client(base_url=srv.url, timeout=30) as client:
        queued = client.post("/js/walker_run?is_async=true", json={"name": "bench-quick"})
        execution_id = queued.json()["result"]
        first = client.get("/js/walker_queue_wait", params={"task_id": execution_id})
        if first.json().get("status") != "SUCCESS":
            raise SystemExit(f"the run did not succeed: {first.text}")
        times: list[float] = []
        cpu = 0.0
        for i in range(args.waits + 50):
            if i == 50:
                cpu = srv.cpu_seconds()
            began = time.perf_counter()
            answer = client.get("/js/walker_queue_wait", params={"task_id": execution_id})
            took = (time.perf_counter() - began) * 1000
            if answer.status_code != 200:
                raise SystemExit(f"wait {i}: {answer.status_code} {answer.text[:200]}")
            if i >= 50:
                times.append(took)
        return times, (srv.cpu_seconds() - cpu) / max(1, len(times)) * 1000


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--rounds", type=int, default=200, help="20-step runs measured (default 200).")
    p.add_argument("--waits", type=int, default=1000, help="queue waits measured (default 1000).")
    args = p.parse_args()

    api = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True, close_fds=True
    )
    try:
        assert api.stdout is not None
        base = f"http://127.0.0.1:{api.stdout.readline().strip()}"
        began = time.monotonic()
        overhead, overhead_cpu, raw, seq = measure_steps(base, args.rounds)
        elapsed = time.monotonic() - began
    finally:
        api.terminate()
        api.wait()

    table = spread_table(
        f"Sequence steps - {args.rounds} runs of {STEPS} steps, local JSON server",
        [
            ("taskgate overhead (sequence - raw)", overhead),
            ("  the same in CPU time of this process", overhead_cpu),
            ("raw httpx round trip", raw),
            ("sequence step, all in", seq),
        ],
        measure="measure (ms per step)",
    )
    s = Summary.of(overhead)
    c = Summary.of(overhead_cpu)
    table.notes.append(
        f"target: overhead p50 <= {TARGET_STEP_MS:g} ms: wall {verdict(s.median <= TARGET_STEP_MS)}"
        f", CPU {verdict(c.median <= TARGET_STEP_MS)} (CPU time does not count waiting for "
        "a core on a busy machine)"
    )
    steps = args.rounds * STEPS
    table.notes.append(f"{steps / elapsed:.0f} steps/s over both paths ({elapsed:.1f} s wall)")
    table.print()

    waits, server_cpu_ms = measure_wait(args)
    table = spread_table(
        f"walker_queue_wait on an ended execution - {len(waits)} calls",
        [("GET /js/walker_queue_wait answered", waits)],
    )
    w = Summary.of(waits)
    table.notes.append(
        f"target: p50 <= {TARGET_WAIT_MS:g} ms ({verdict(w.median <= TARGET_WAIT_MS)}); "
        f"{1000 / w.mean:.0f} calls/s one at a time"
    )
    table.notes.append(f"server CPU per call: {server_cpu_ms:.2f} ms")
    table.print()
    print(machine_line())


if __name__ == "__main__":
    main()
