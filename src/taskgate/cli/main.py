"""The `taskgate` application: assembles the command groups."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from taskgate import __version__
from taskgate.cli import (
    chains,
    db,
    executions,
    keys,
    kv,
    phases,
    queues,
    schedules,
    start,
    tasks,
    worker,
)
from taskgate.cli.serve import serve

app = typer.Typer(
    name="taskgate",
    help="Start, schedule, chain and watch tasks. Commands that talk to a server take --url "
    "(TASKGATE_URL), --api-key (TASKGATE_API_KEY) and --json.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"taskgate {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    ca_file: Annotated[
        str | None,
        typer.Option(
            "--ca-file",
            envvar="TASKGATE_CA_FILE",
            help="Check an https:// server against this CA (PEM) instead of the system's.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start, schedule, chain and watch tasks.

    Commands that talk to a server take --url (TASKGATE_URL), --api-key (TASKGATE_API_KEY) and
    --json (raw JSON instead of tables).
    """
    if ca_file:
        # Read by the client of whichever command runs (taskgate.client.tls).
        os.environ["TASKGATE_CA_FILE"] = ca_file


app.command("serve")(serve)
app.command("worker")(worker.worker)
app.command("queues")(queues.queues)
app.command("start", help=start.START_HELP)(start.start)
app.command("run-phases", help=phases.RUN_PHASES_HELP)(phases.run_phases)
app.add_typer(tasks.app, name="tasks")
app.add_typer(executions.app, name="executions")
app.add_typer(keys.app, name="keys")
app.add_typer(schedules.app, name="schedules")
app.add_typer(kv.app, name="kv")
app.add_typer(db.app, name="db")
app.add_typer(chains.app, name="chains")
