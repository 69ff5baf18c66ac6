"""The files a run leaves in the data folder's `runs/` (its parameters and result files; they
normally go when the run ends, but a crash may leave them): removed with their executions when
retention deletes those."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from taskgate.engine.actions.contract import RunFiles

RUNS_FOLDER = "runs"


def runs_dir(data_dir: Path) -> Path:
    return data_dir / RUNS_FOLDER


def run_files_remover(data_dir: Path) -> Callable[[Iterable[str]], None]:
    """What retention calls with the ids of the executions it deleted."""
    folder = runs_dir(data_dir)

    def remove(execution_ids: Iterable[str]) -> None:
        for execution_id in execution_ids:
            RunFiles.of(folder, execution_id).remove()

    return remove
