"""Execution tokens in the core, on both engines: one shared secret, the execution's state."""

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from taskgate.core.clock import utcnow
from taskgate.core.exectoken import ExecutionTokens
from taskgate.domain.errors import Unauthorized
from taskgate.store.db import Database
from tests.conftest import Backend


def test_processes_on_one_database_share_one_secret(backend: Backend, tmp_path: Path) -> None:
    url = backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}"

    async def main() -> None:
        databases = [Database(url) for _ in range(3)]
        try:
            await databases[0].migrate()
            tokens = [ExecutionTokens(db) for db in databases]
            await asyncio.gather(*(t.load() for t in tokens))
            assert len({t.key for t in tokens}) == 1
            again = ExecutionTokens(databases[0])
            await again.load()
            assert again.key == tokens[0].key
        finally:
            for db in databases:
                await db.close()

    asyncio.run(main())


def test_a_token_of_no_known_execution_is_refused(backend: Backend, tmp_path: Path) -> None:
    url = backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}"

    async def main() -> None:
        db = Database(url)
        try:
            await db.migrate()
            tokens = ExecutionTokens(db)
            await tokens.load()
            token = tokens.issue(str(uuid.uuid4()), utcnow(), 60)
            with pytest.raises(Unauthorized, match="does not exist"):
                await tokens.caller(token)
            old = tokens.issue(str(uuid.uuid4()), utcnow() - timedelta(days=2), None)
            with pytest.raises(Unauthorized, match="expired"):
                await tokens.caller(old)
        finally:
            await db.close()

    asyncio.run(main())


def test_tokens_need_the_secret_loaded() -> None:
    tokens = ExecutionTokens(Database("sqlite://"))
    with pytest.raises(RuntimeError):
        tokens.issue(str(uuid.uuid4()), utcnow(), None)
