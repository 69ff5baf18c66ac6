"""`taskgate chains list|show|create|delete`: chain rules (docs/chains.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from taskgate.cli.common import ApiKeyOpt, ExitCode, JsonOpt, UrlOpt, connect, fail
from taskgate.cli.output import details, fmt_time, out, print_json, table

app = typer.Typer(help="List, show, create and delete chain rules.", no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="Chain rule id.")]


def when(chain: dict[str, Any]) -> str:
    """Its conditions in one line: `all of a ok, b ok within 6h`."""
    parts = [
        f"{c.get('task')} {'/'.join(_short(s) for s in c.get('statuses') or [])}"
        for c in chain.get("when") or []
    ]
    if chain.get("match") == "all" and len(parts) > 1:
        text = f"all of {', '.join(parts)} within {_duration(chain.get('window') or 0)}"
        if chain.get("on_expiry") == "fire":
            text += " (or what happened, when it expires)"
        return text
    return " or ".join(parts)


def _short(status: str) -> str:
    return {"finished_success": "ok", "finished_fail": "failed"}.get(status, status)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}s"


@app.command("list")
def list_chains(url: UrlOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False) -> None:
    """List chain rules: when they fire, what they start, how often they fired."""
    with connect(url, api_key) as client:
        chains = client.list_chains()
    if as_json:
        print_json(chains)
        return
    rows = [
        [
            c.get("id"),
            c.get("name"),
            when(c),
            ", ".join(c.get("start") or []),
            "yes" if c.get("enabled") else "no",
            c.get("fire_count"),
            c.get("source"),
        ]
        for c in chains
    ]
    out().print(table(["id", "name", "when", "start", "enabled", "fired", "source"], rows))
    out().print(f"{len(chains)} chain rule(s)", style="dim")


@app.command("show")
def show_chain(
    chain_id: IdArg, url: UrlOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Show one rule, its open window and what it fired lately."""
    with connect(url, api_key) as client:
        chain = client.get_chain(chain_id)
        firings = client.chain_firings(chain_id, limit=10)
    if as_json:
        print_json({**chain, "firings": firings})
        return
    window = chain.get("open_window")
    fields = [
        ("id", chain.get("id")),
        ("name", chain.get("name") or None),
        ("when", when(chain)),
        ("start", ", ".join(chain.get("start") or [])),
        ("params", chain.get("params") or None),
        ("max depth", chain.get("max_depth")),
        ("enabled", "yes" if chain.get("enabled") else "no"),
        ("fired", chain.get("fire_count")),
        ("source", chain.get("source")),
    ]
    if window:
        met = ", ".join(f"#{i} by {m.get('execution_id')}" for i, m in window["met"].items())
        fields.append(("open window", f"{met}; expires {fmt_time(window.get('expires_at'))}"))
    console = out()
    console.print(details(fields, title=chain.get("name") or chain.get("id")))
    if firings:
        rows = [
            [
                fmt_time(f.get("at")),
                f.get("outcome"),
                ", ".join(f.get("triggered_by") or []),
                ", ".join(f.get("execution_ids") or []),
                f.get("message"),
            ]
            for f in firings
        ]
        columns = ["at", "outcome", "triggered by", "started", "message"]
        console.print(table(columns, rows, title="Recent firings"))


@app.command("create")
def create_chains(
    file: Annotated[
        Path,
        typer.Option(
            "--file", "-f", help="YAML or JSON: one rule, or a list of rules ('-': stdin)."
        ),
    ],
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create chain rules from a file (a rule with an `id` replaces the one of that id)."""
    rules = _read_rules(file)
    made: list[dict[str, Any]] = []
    with connect(url, api_key) as client:
        for rule in rules:
            rule_id = rule.get("id")
            if rule_id:
                spec = {k: v for k, v in rule.items() if k != "id"}
                made.append(client.put_chain(str(rule_id), spec))
            else:
                made.append(client.create_chain(rule))
    if as_json:
        print_json(made)
        return
    for chain in made:
        out().print(f"chain {chain['id']}: {when(chain)} → {', '.join(chain['start'])}")


@app.command("delete")
def delete_chain(chain_id: IdArg, url: UrlOpt = None, api_key: ApiKeyOpt = None) -> None:
    """Delete a chain rule (an open window of it is forgotten)."""
    with connect(url, api_key) as client:
        client.delete_chain(chain_id)
    out().print(f"deleted chain {chain_id}")


def _read_rules(file: Path) -> list[dict[str, Any]]:
    try:
        text = typer.get_text_stream("stdin").read() if str(file) == "-" else file.read_text()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", ExitCode.USAGE, field="file")
    try:
        loaded = json.loads(text) if str(file).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        fail(f"{file}: not valid YAML or JSON ({exc})", ExitCode.USAGE, field="file")
    if isinstance(loaded, dict) and isinstance(loaded.get("chains"), list):
        loaded = loaded["chains"]  # a config file's section
    rules = loaded if isinstance(loaded, list) else [loaded]
    if not rules or not all(isinstance(r, dict) for r in rules):
        fail(f"{file}: wanted a rule (a mapping) or a list of rules", ExitCode.USAGE, field="file")
    return rules
