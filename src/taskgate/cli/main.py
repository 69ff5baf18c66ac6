"""The `taskgate` application: assembles the command groups."""

from __future__ import annotations

import importlib
import os
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from taskgate import __version__
from taskgate.cli.serve import serve

# Every command but `serve`, in the order of the help, with where it lives: its module is
# imported only when the command runs (or the help lists it), so that the server started by
# `taskgate serve` loads neither Rich nor the other commands (idle memory;
# tests/test_lean_imports.py). (module, attribute, help attribute): a Typer sub-app, or one
# command function with the name of its help text (None: its docstring).
LAZY_COMMANDS: dict[str, tuple[str, str, str | None]] = {
    "worker": ("worker", "worker", None),
    "queues": ("queues", "queues", None),
    "start": ("start", "start", "START_HELP"),
    "run-phases": ("phases", "run_phases", "RUN_PHASES_HELP"),
    "tasks": ("tasks", "app", None),
    "executions": ("executions", "app", None),
    "keys": ("keys", "app", None),
    "schedules": ("schedules", "app", None),
    "kv": ("kv", "app", None),
    "db": ("db", "app", None),
    "chains": ("chains", "app", None),
}


def _lazy_command(name: str) -> Any:  # a click Command (Typer may bring its own click)
    module_name, attribute, help_name = LAZY_COMMANDS[name]
    module = importlib.import_module(f"taskgate.cli.{module_name}")
    target = getattr(module, attribute)
    # Built as the one command of a Typer of its own, so that Typer makes it exactly as
    # add_typer / command on the root would (without a root's completion options).
    holder = typer.Typer(add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
        command = typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]
    else:
        holder.command(name, help=getattr(module, help_name) if help_name else None)(target)
        command = typer.main.get_command(holder)
    command.name = name
    return command


class LazyCommands(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *LAZY_COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY_COMMANDS:
            command = _lazy_command(cmd_name)
            self.add_command(command, cmd_name)
        return command


app = typer.Typer(
    name="taskgate",
    cls=LazyCommands,
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
