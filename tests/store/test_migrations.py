"""The migrations build exactly the schema the code declares, on both engines."""

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from taskgate.store.db import HEAD_REVISION, MIGRATIONS, Database
from taskgate.store.tables import metadata
from tests.conftest import Backend


def test_head_revision_constant_matches_the_migrations() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_migrated_database_matches_the_tables(backend: Backend, tmp_path: Path) -> None:
    url = backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}"
    db = Database(url)

    async def migrate_twice() -> None:
        await db.migrate()
        await db.migrate()  # a second start finds nothing to do

    asyncio.run(migrate_twice())
    try:
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn)
            assert context.get_current_revision() == HEAD_REVISION
            assert compare_metadata(context, metadata) == []
    finally:
        asyncio.run(db.close())
