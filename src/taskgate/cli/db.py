"""`taskgate db purge|backup`: maintenance on the database of a config, directly (no server
needed, and none in the way: both are safe while a server runs on the same database)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from taskgate.cli.common import ConfigOpt, ExitCode, JsonOpt, fail
from taskgate.cli.output import out, print_json, print_note, table
from taskgate.domain.errors import ConfigError, TaskgateError

if TYPE_CHECKING:
    from taskgate.config import Settings
    from taskgate.store.db import Database

T = TypeVar("T")

app = typer.Typer(
    help="Database maintenance on the database of --config / TASKGATE_CONFIG: purge what is "
    "past its retention, back it up.",
    no_args_is_help=True,
)


def local_settings(config: Path | None) -> Settings:
    from sqlalchemy.engine import make_url

    from taskgate.config import load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        fail(exc.message, ExitCode.USAGE, field=exc.field)
    shown = make_url(settings.db_url).render_as_string(hide_password=True)
    print_note(f"local mode: database {shown}")
    return settings


def on_database(settings: Settings, op: Callable[[Database], Awaitable[T]]) -> T:
    """Run `op` on the (migrated) database of the settings; errors exit 1 with a message."""
    from sqlalchemy.exc import SQLAlchemyError

    from taskgate.store.db import Database

    async def main() -> T:
        db = Database(settings.db_url)
        try:
            await db.migrate()
            return await op(db)
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except TaskgateError as exc:
        fail(exc.message, field=exc.field)
    except SQLAlchemyError as exc:
        fail(f"database error: {exc}")


@app.command("purge")
def purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be deleted.")
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete what is past the config's retention (the `retention:` section) now, as the
    server's housekeeping loop does every retention.every_seconds; --dry-run counts it."""
    from taskgate.core.retention import Retention
    from taskgate.engine.runfiles import run_files_remover

    settings = local_settings(config)
    # All of it, not one pass's worth of batches.
    policy = replace(
        settings.retention.policy(settings.scheduler.history_days), max_batches=sys.maxsize
    )

    async def op(db: Database) -> dict[str, int]:
        retention = Retention(db, policy, run_files_remover(settings.data_dir))
        report = await (retention.preview() if dry_run else retention.purge())
        return {kind.value: n for kind, n in report.counts.items()}

    counts = on_database(settings, op)
    if as_json:
        print_json({"dry_run": dry_run, "deleted" if not dry_run else "would_delete": counts})
        return
    heading = "would delete" if dry_run else "deleted"
    out().print(table(["what", heading], sorted(counts.items())))


@app.command("backup")
def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the copy (a SQLite file).")],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy the SQLite database to FILE, consistent while servers keep running on it (SQLite's
    online backup). For PostgreSQL it names the tool to use instead (pg_dump)."""
    from sqlalchemy.engine import make_url

    from taskgate.store.backup import PG_DUMP_HINT, backup_sqlite, sqlite_file

    settings = local_settings(config)
    source = sqlite_file(settings.db_url)
    if source is None:
        shown = make_url(settings.db_url).render_as_string(hide_password=True)
        fail(PG_DUMP_HINT.format(url=shown), ExitCode.USAGE, field="database_url")
    if file.exists() and not force:
        fail(f"{file} exists; give --force to replace it", ExitCode.USAGE)
    if file.resolve() == source.resolve():
        fail("FILE is the live database itself", ExitCode.USAGE)
    try:
        size = backup_sqlite(source, file)
    except TaskgateError as exc:
        fail(exc.message, field=exc.field)
    except OSError as exc:
        fail(f"cannot write {file}: {exc}")
    if as_json:
        print_json({"source": str(source), "backup": str(file), "bytes": size})
        return
    out().print(f"backed up {source} to {file} ({size} bytes)")


@app.command("copy")
def copy(
    to: Annotated[
        str, typer.Argument(help="The new database: postgresql://user:password@host/dbname.")
    ],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy everything (tasks, executions with their logs and results, schedules, keys,
    key-value items, chain rules, audit) from the database of the config into a new, empty
    database, creating its schema: how an embedded SQLite install moves to PostgreSQL. Stop the
    server first: what it writes during the copy is not copied."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from taskgate.store.copy import copy_all
    from taskgate.store.db import Database

    settings = local_settings(config)
    if not to.startswith("postgresql"):
        fail("the destination must be a PostgreSQL URL (postgresql://...)", ExitCode.USAGE)
    if make_url(to) == make_url(settings.db_url):
        fail("the destination is the config's own database", ExitCode.USAGE)

    async def main() -> dict[str, int]:
        source, dest = Database(settings.db_url), Database(to)
        try:
            await source.migrate()
            await dest.migrate()
            with source.engine.connect() as reading, dest.engine.begin() as writing:
                return copy_all(reading, writing)
        finally:
            await source.close()
            await dest.close()

    try:
        counts = asyncio.run(main())
    except TaskgateError as exc:
        fail(exc.message, field=exc.field)
    except SQLAlchemyError as exc:
        fail(f"copy failed: {exc}")
    if as_json:
        print_json({"copied": counts})
        return
    out().print(table(["table", "rows"], sorted(counts.items())))
    shown = make_url(to).render_as_string(hide_password=True)
    out().print(f"copied into {shown}; point database_url at it")
