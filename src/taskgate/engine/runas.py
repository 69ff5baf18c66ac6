"""Running a command as another user (a task's `run_as`), when the server runs as root.

The run's parameter and result files cannot live in the data folder (the server's user
alone may enter it), so such a run gets a private folder of its own: made by root, the
parameters written into it, and only then handed to the user. The result file the user leaves
is read back only when it is a regular file that user owns, so a link cannot make the server
read one of its own files into the result.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskgate.domain.errors import InvalidInput


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    groups: tuple[int, ...]

    def popen_options(self) -> dict[str, Any]:
        """What subprocess needs to start the process as this user, with its own groups."""
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}

    def environment(self) -> dict[str, str]:
        return {"HOME": self.home, "USER": self.name, "LOGNAME": self.name}


def account(name: str) -> Account:
    """The user `name`, if the server may run commands as it; InvalidInput (naming
    action.run_as) otherwise."""
    if sys.platform == "win32":
        # A Windows account is changed with its password (a service's "Log On As"), not by
        # a root server setting a uid: run the server as the account instead.
        raise InvalidInput(
            "run_as: not on Windows; run taskgate as that account instead", field="action.run_as"
        )
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise InvalidInput(
            f"run_as: no user {name!r} on this machine", field="action.run_as"
        ) from None
    if os.geteuid() != 0:
        raise InvalidInput(
            f"run_as: the server runs as uid {os.geteuid()}, not root, and cannot start a "
            f"command as {name!r}",
            field="action.run_as",
        )
    groups = tuple(g for g in os.getgrouplist(entry.pw_name, entry.pw_gid) if g != entry.pw_gid)
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir, groups)


@contextlib.contextmanager
def private_folder(owner: Account, params_name: str, params: str) -> Iterator[Path]:
    """A folder only `owner` may enter, holding its parameters file; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="taskgate-run-"))
    try:
        params_path = folder / params_name
        fd = os.open(params_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(params)
        if sys.platform != "win32":  # account() has refused run_as on Windows
            os.chown(params_path, owner.uid, owner.gid)
            os.chown(folder, owner.uid, owner.gid)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
