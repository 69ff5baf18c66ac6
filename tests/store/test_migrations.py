"""The migrations build exactly the schema the code declares, on both engines; a new database
created directly from the declared tables ends up the same, and stamped at the newest revision."""

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from taskgate.store.db import HEAD_REVISION, MIGRATIONS, Database, alembic_upgrade
from taskgate.store.tables import metadata
from tests.conftest import Backend


def _database(backend: Backend, tmp_path: Path) -> Database:
    return Database(backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}")


def _assert_at_head_and_matching(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == HEAD_REVISION
        assert compare_metadata(context, metadata) == []


def test_head_revision_constant_matches_the_migrations() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_running_every_migration_gives_the_declared_tables(
    backend: Backend, tmp_path: Path
) -> None:
    db = _database(backend, tmp_path)
    try:
        with db.engine.begin() as conn:
            alembic_upgrade(conn)
        _assert_at_head_and_matching(db)
    finally:
        asyncio.run(db.close())


def test_a_new_database_is_created_at_head(backend: Backend, tmp_path: Path) -> None:
    db = _database(backend, tmp_path)

    async def migrate_twice() -> None:
        await db.migrate()
        await db.migrate()  # a second start finds nothing to do

    try:
        asyncio.run(migrate_twice())
        _assert_at_head_and_matching(db)
        with db.engine.begin() as conn:
            alembic_upgrade(conn)  # Alembic agrees there is nothing left to run
        _assert_at_head_and_matching(db)
    finally:
        asyncio.run(db.close())
