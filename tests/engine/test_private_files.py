"""Files of the server's user: the result file a run leaves, the data folder's modes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from taskgate.datadir import prepare, too_open, write_admin_key
from taskgate.engine.actions.command import read_result


def test_a_result_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    assert read_result(path) == (None, "")
    path.write_text('{"rows": 3}')
    assert read_result(path) == ({"rows": 3}, "")
    assert read_result(path, owner=os.getuid()) == ({"rows": 3}, "")


def test_a_link_or_a_stranger_file_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"password": "x"}')
    link = tmp_path / "r.json"
    link.symlink_to(secret)
    result, note = read_result(link)
    assert result is None and "ignored" in note
    # A file the run's user does not own (a hard link to ours, say).
    result, note = read_result(secret, owner=os.getuid() + 1)
    assert result is None and "not a regular file of the run's user" in note
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read_result(fifo)[0] is None


def test_a_new_data_folder_and_key_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    prepare(data)
    path = write_admin_key(data, "tg_abc_def")
    assert path.read_text() == "tg_abc_def\n"
    assert too_open(data, None) == []
    assert [p.name for p in data.iterdir()] == ["admin.key"]


@pytest.mark.parametrize("name", ["", "admin.key", "taskgate.db", "taskgate.db-wal"])
def test_wider_modes_are_named(tmp_path: Path, name: str) -> None:
    data = tmp_path / "data"
    prepare(data)
    write_admin_key(data, "tg_abc_def")
    database = data / "taskgate.db"
    for path in (database, data / "taskgate.db-wal"):
        path.touch(mode=0o600)
        path.chmod(0o600)
    target = data / name if name else data
    target.chmod(0o755 if not name else 0o640)
    [problem] = too_open(data, database)
    assert problem.startswith(f"{target} is 0") and "chmod" in problem
