"""`taskgate worker`: run a Celery worker that executes taskgate's executions."""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from taskgate.cli.common import ConfigOpt, ExitCode, fail
from taskgate.domain.errors import ConfigError
from taskgate.extras import extra_needed


def worker(
    config: ConfigOpt = None,
    queues: Annotated[
        str | None,
        typer.Option(
            "--queues",
            "-Q",
            help="Routes to take executions from, comma separated (default: the config's "
            "executor.celery.default_route).",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, max=1000, help="Runs at once.")
    ] = 8,
    hostname: Annotated[
        str | None,
        typer.Option("--hostname", "-n", help="This worker's name (default taskgate@<node>)."),
    ] = None,
    drain: Annotated[
        bool,
        typer.Option(
            "--drain",
            help="Do not run a worker: tell the running worker named by --hostname (on this "
            "machine by default) to finish what it runs, take nothing new, and exit.",
        ),
    ] = False,
) -> None:
    """Run a Celery worker for executor.kind: celery (needs the celery extra).

    SIGTERM (systemctl stop) finishes what runs and takes nothing new before exiting, as
    --drain does from another shell. Exit code 2 when the config cannot be used.
    """
    from taskgate.config import load_settings  # late, as in `serve`: `--help` lists this command

    try:
        settings = load_settings(config)
        settings.check_executor()
        if settings.executor.kind != "celery":
            raise ConfigError(
                "taskgate worker needs executor.kind: celery in the config", field="executor.kind"
            )
        with extra_needed("celery", "celery", field="executor.kind", what="the Celery executor"):
            from taskgate.workerapp import WorkerOptions, drain_worker, run_worker
    except ConfigError as exc:
        fail(exc.message, ExitCode.USAGE)
    name = hostname or f"taskgate@{settings.node_name or socket.gethostname()}"
    if drain:
        told = drain_worker(settings, name)
        if not told:
            fail(f"no worker named {name} answered", ExitCode.FAILED)
        typer.echo(f"{name}: draining (finishes what it runs, then exits)")
        return
    routes = [r.strip() for r in (queues or "").split(",") if r.strip()] or [
        settings.executor.celery.default_route
    ]
    raise typer.Exit(run_worker(settings, WorkerOptions(routes, concurrency, name)))
