"""`taskgate queues`: what waits for a worker, and what each worker runs."""

from __future__ import annotations

from taskgate.cli.common import ApiKeyOpt, JsonOpt, UrlOpt, connect
from taskgate.cli.output import fmt_time, out, print_json, table


def queues(url: UrlOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False) -> None:
    """Per queue, the executions waiting and the workers listening (a queue no worker listens
    on says so); per worker, the executions it runs (active) and holds (reserved)."""
    with connect(url, api_key) as client:
        view = client.queues()
    if as_json:
        print_json(view)
        return
    rows = [
        [
            q.get("queue"),
            q.get("route") or "(default)",
            q.get("waiting"),
            "-" if q.get("messages") is None else q.get("messages"),
            fmt_time(q.get("oldest_waiting_since")),
            ", ".join(q.get("workers") or []) or "none: " + str(q.get("note") or ""),
        ]
        for q in view.get("queues") or []
    ]
    out().print(table(["queue", "route", "waiting", "messages", "oldest", "workers"], rows))
    workers = view.get("workers") or []
    if workers:
        out().print(
            table(
                ["worker", "queues", "active", "reserved"],
                [
                    [
                        w.get("name"),
                        ", ".join(w.get("queues") or []),
                        len(w.get("active") or []),
                        len(w.get("reserved") or []),
                    ]
                    for w in workers
                ],
            )
        )
    out().print(f"executor: {view.get('executor')}", style="dim")
