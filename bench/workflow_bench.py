"""Workflows: phase-transition latency against plain start latency, and a big workflow's rate.

Part 1, in one run against one server: `--plain` sequential plain starts of the stamp program
(the one of trigger_latency.py: it writes its own CLOCK_REALTIME at the top of `main` into its
result), each measured from just before `POST /api/v1/start` to the program's clock reading;
then `--chains` workflows of `--phases` phases of one stamp member each, one after the other,
each transition measured from the `finished_at` of phase N's member (the server writes the end,
and in the same transaction starts phase N+1) to the clock reading of phase N+1's member.

Part 2: a workflow of `--big-phases` phases x `--members` members of /bin/true, against as many
plain starts of /bin/true sent over `--clients` connections: each rate is executions / (last
`finished_at` - the moment the first start was sent).

    .venv/bin/python bench/workflow_bench.py [--database-url postgresql://...]
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from common import (
    Server,
    Summary,
    Table,
    account,
    iso_seconds,
    machine_line,
    parser,
    stamp_program,
    task,
    verdict,
    wait_drained,
)
from throughput import fire

TARGET_P50_GAP_MS = 2.0  # transition p50 within this much of the plain start's p50
TARGET_P99_MS = 20.0
TARGET_RATIO = 0.8


def workflow(name: str, phases: list[list[Any]]) -> dict[str, Any]:
    return {"name": name, "label": name, "action": {"kind": "workflow", "phases": phases}}


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--plain", type=int, default=200, help="Plain sequential starts (200).")
    p.add_argument("--chains", type=int, default=25, help="Chain workflows in part 1 (25).")
    p.add_argument("--phases", type=int, default=10, help="Phases of each chain (10).")
    p.add_argument("--big-phases", type=int, default=10, help="Phases of the big workflow.")
    p.add_argument("--members", type=int, default=100, help="Members per big phase (100).")
    p.add_argument("--clients", type=int, default=16, help="Connections for plain starts.")
    p.add_argument("--slots", type=int, default=16, help="Executor slots (16).")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="taskgate-wf-") as tmp:
        program = stamp_program(Path(tmp))
        stamp = task("wf-stamp", program.argv, timeout=30)
        true = task("wf-true", [shutil.which("true") or "/bin/true"], timeout=30)
        chain = workflow("wf-chain", [[f"id:{stamp['id']}"] for _ in range(args.phases)])
        big = workflow(
            "wf-big",
            [
                [{"task": f"id:{true['id']}", "name": f"m{j}"} for j in range(args.members)]
                for _ in range(args.big_phases)
            ],
        )
        tasks = [stamp, true, chain, big]
        # Open on loopback (the load client sends no key).
        with Server(
            tasks,
            slots=args.slots,
            database_url=args.database_url,
            keep=args.keep,
            extra_config={"auth": "none"},
        ) as s:
            print(f"server pid {s.pid} on {s.url}; {s.database_label}; {args.slots} slots")
            print(f"program: {program.kind} {program.argv[0]} {program.note}", flush=True)
            with httpx.Client(base_url=s.url, timeout=120) as client:
                latency(client, s, stamp["id"], program.kind, args)
                rates(client, s, true["id"], args)


def run_to_end(client: httpx.Client, label: str) -> tuple[dict[str, Any], float]:
    sent = time.time()
    answer = client.post("/api/v1/start", json={"selectors": [f"label:{label}"]}).json()
    execution_id = answer["executions"][0]["id"]
    waited = client.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": 600})
    assert waited.json()["status"] == "finished_success", waited.text[:500]
    tree = client.get(f"/api/v1/executions/{execution_id}").json()
    return tree, sent


def latency(client: httpx.Client, server: Server, stamp_id: str, kind: str, args: Any) -> None:
    plain: list[float] = []
    problems: list[str] = []
    for i in range(args.plain + 10):
        t0 = time.time_ns()
        answer = client.post("/api/v1/start", json={"selectors": [f"id:{stamp_id}"]}).json()
        execution_id = answer["executions"][0]["id"]
        done = client.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": 30})
        result = done.json().get("result") or {}
        if "started_ns" not in result:
            problems.append(f"plain {i}: {done.text[:200]}")
        elif i >= 10:  # the first ten warm up
            plain.append((result["started_ns"] - t0) / 1e6)
    transitions: list[float] = []
    for _ in range(args.chains):
        tree, _ = run_to_end(client, "wf-chain")
        members = tree["children"]
        for before, after in itertools.pairwise(members):
            ended = iso_seconds(before["finished_at"])
            running = (after.get("result") or {}).get("started_ns")
            if running is None:
                problems.append(f"chain member without a stamp: {after['id']}")
                continue
            transitions.append((running / 1e9 - ended) * 1000)
    table = Table(
        f"Workflow phase transition vs plain start ({server.database_label}, program {kind})",
        ["measure (ms)", "count", "median", "p90", "p99", "max"],
    )
    s_plain, s_step = Summary.of(plain), Summary.of(transitions)
    table.add("plain: start -> process running", len(plain), *_cells(s_plain))
    table.add("phase N ended -> N+1 running", len(transitions), *_cells(s_step))
    gap = s_step.median - s_plain.median
    table.notes.append(
        f"target: p50 within {TARGET_P50_GAP_MS:g} ms of plain ({gap:+.2f} ms, "
        f"{verdict(gap <= TARGET_P50_GAP_MS)}), p99 <= {TARGET_P99_MS:g} ms "
        f"({verdict(s_step.p99 <= TARGET_P99_MS)})"
    )
    table.notes.append(machine_line())
    for problem in problems[:5]:
        table.notes.append(f"problem: {problem}")
    table.print()


def _cells(s: Summary) -> list[float]:
    return [s.median, s.p90, s.p99, s.max]


def rates(client: httpx.Client, server: Server, true_id: str, args: Any) -> None:
    total = args.big_phases * args.members
    cpu0 = server.cpu_seconds()
    plain = fire(server.url, total, args.clients, body={"selectors": [f"id:{true_id}"]})
    wait_drained(client, true_id, 300)
    counts = account(client, true_id, plain.accepted)
    plain_seconds = counts["last_finished"] - plain.first_sent
    cpu_plain = server.cpu_seconds() - cpu0
    cpu0 = server.cpu_seconds()
    tree, sent = run_to_end(client, "wf-big")
    cpu_flow = server.cpu_seconds() - cpu0
    members = tree["children"]
    flow_seconds = iso_seconds(tree["finished_at"]) - sent
    plain_rate = len(plain.accepted) / plain_seconds
    flow_rate = len(members) / flow_seconds
    table = Table(
        f"Workflow of {args.big_phases} x {args.members} /bin/true vs {total} plain starts "
        f"({server.database_label}, {args.slots} slots)",
        ["run", "executions", "seconds", "executions/s", "server CPU (s)"],
    )
    table.add(
        f"plain starts ({args.clients} clients)",
        len(plain.accepted),
        plain_seconds,
        plain_rate,
        cpu_plain,
    )
    table.add("one workflow", len(members), flow_seconds, flow_rate, cpu_flow)
    ratio = flow_rate / plain_rate
    table.notes.append(
        f"workflow rate / plain rate = {ratio:.2f} (target >= {TARGET_RATIO:g}: "
        f"{verdict(ratio >= TARGET_RATIO)})"
    )
    if plain.refused:
        table.notes.append(f"problem: plain starts refused {plain.refused}")
    table.notes.append(machine_line())
    table.print()


if __name__ == "__main__":
    main()
