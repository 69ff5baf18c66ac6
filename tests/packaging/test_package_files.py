"""The wheel and the sdist hold every file the server needs (a data file missing from
package-data only shows once someone installs the wheel, far from the source tree)."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

import taskgate

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "taskgate"


def source_files() -> set[str]:
    """Every file of the package in the source tree, as `taskgate/...` (caches aside)."""
    return {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build`: the sdist, then the wheel built from that sdist (as pip would)."""
    out = tmp_path_factory.mktemp("dist")
    # Test workers may each build: one at a time, the build writes into the source tree
    # (src/taskgate.egg-info).
    with open(Path(tempfile.gettempdir()) / "taskgate-package-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "deprecated" not in done.stdout + done.stderr
    return out


def only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_wheel_holds_every_package_file(dist: Path) -> None:
    wheel = only(dist, f"taskgate-{taskgate.__version__}-py3-none-any.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = source_files() - names
    assert not missing, f"missing from the wheel (package-data in pyproject.toml?): {missing}"
    for needed in (
        "taskgate/py.typed",
        "taskgate/store/migrations/env.py",
        "taskgate/store/migrations/script.py.mako",
    ):
        assert needed in names
    assert any(n.startswith("taskgate/store/migrations/versions/0001_") for n in names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_wheel_metadata_version_licence_and_console_script(dist: Path) -> None:
    wheel = zipfile.ZipFile(only(dist, "taskgate-*.whl"))
    info = f"taskgate-{taskgate.__version__}.dist-info"
    metadata = wheel.read(f"{info}/METADATA").decode()
    assert f"\nVersion: {taskgate.__version__}\n" in metadata
    assert any(n.startswith(f"{info}/") and "LICENSE" in n for n in wheel.namelist())
    entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "taskgate = taskgate.cli.main:app" in entry_points


def test_sdist_holds_the_sources_licence_and_changelog(dist: Path) -> None:
    sdist = only(dist, f"taskgate-{taskgate.__version__}.tar.gz")
    top = f"taskgate-{taskgate.__version__}"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(f"{top}/") for name in archive.getnames()}
    for needed in ("LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", "MANIFEST.in"):
        assert needed in names
    missing = {f"src/{name}" for name in source_files()} - names
    assert not missing, f"missing from the sdist: {missing}"
