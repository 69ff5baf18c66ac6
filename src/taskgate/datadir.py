"""The data folder and the secrets in it: made for the server's user alone.

It holds the SQLite database (key-value values, parameters, logs, webhook secrets, the signing
key of execution tokens), each running command's parameter file, and `admin.key`: the secret of
the admin API key the first start makes. Everything is created readable by the server's user
only; a folder or file found wider is named in a warning at start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("taskgate")
ADMIN_KEY_FILE = "admin.key"
DIR_MODE = 0o700
FILE_MODE = 0o600


def prepare(data_dir: Path) -> None:
    """Create the data folder for this user alone (an existing one is left as it is)."""
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def admin_key_path(data_dir: Path) -> Path:
    return data_dir / ADMIN_KEY_FILE


def write_admin_key(data_dir: Path, secret: str) -> Path:
    """Write the secret where only this user can read it, atomically (a reader never sees half
    a key); returns the file's path."""
    prepare(data_dir)
    path = admin_key_path(data_dir)
    partial = path.with_name(f".{ADMIN_KEY_FILE}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(secret + "\n")
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return path


def read_admin_key(data_dir: Path) -> str | None:
    """The secret in `admin.key`, or None when there is none this user can read."""
    try:
        secret = admin_key_path(data_dir).read_text().strip()
    except OSError:
        return None
    return secret or None


def too_open(data_dir: Path, database: Path | None) -> list[str]:
    """What a start warns about: each folder or file of ours that other users may read."""
    wanted = [
        (data_dir, DIR_MODE),
        (data_dir / "runs", DIR_MODE),
        (admin_key_path(data_dir), FILE_MODE),
    ]
    if database is not None:
        wanted += [
            (database.with_name(database.name + suffix), FILE_MODE)
            for suffix in ("", "-wal", "-shm")
        ]
    found: list[str] = []
    for path, mode in dict(wanted).items():
        bits = wider_than(path, mode)
        if bits is not None:
            found.append(
                f"{path} is {bits:04o}, open to other users (it holds parameters, logs or "
                f"secrets): chmod {mode:04o} {path}"
            )
    return found


def wider_than(path: Path, mode: int) -> int | None:
    """The permission bits of `path` when they give more than `mode`; None otherwise (or when
    it does not exist)."""
    try:
        bits = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return bits if bits & ~mode else None
