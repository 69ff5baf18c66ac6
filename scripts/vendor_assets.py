#!/usr/bin/env python3
"""Vendor the dashboard's and the API docs' third-party browser assets into the package.

Downloads each pinned package's tarball from the npm registry (no Node.js needed), takes the
few files the pages use, writes them under src/taskgate/doors/web/static/vendor/<package>/,
and records each file's package, version, licence and sha256 in VENDORED.json. The files are
committed, so installing taskgate needs no network and the pages load nothing from outside.

    python scripts/vendor_assets.py          # fetch and write
    python scripts/vendor_assets.py --check  # verify the committed files against VENDORED.json

To upgrade a package: change its version below, run the script, review the diff, commit.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
VENDOR_DIR = (
    Path(__file__).resolve().parent.parent / "src" / "taskgate" / "doors" / "web" / "static"
) / "vendor"
MANIFEST = VENDOR_DIR / "VENDORED.json"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    files: tuple[str, ...]  # paths inside the tarball's package/ folder
    # The SPDX id, when the package.json does not state one (htmx-ext-sse ships a LICENSE only).
    licence: str | None = None
    # (file, text, replacement, why): the few edits that keep a page from reaching outside.
    patches: tuple[tuple[str, str, str, str], ...] = ()


# An empty SVG image, URL-encoded (so no URL literal is left in the file).
EMPTY_SVG = "data:image/svg+xml,%3Csvg%20xmlns%3D%22http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%22%2F%3E"


PACKAGES = (
    # htmx 2 (not 4): the SSE extension 2.x is written for htmx 2.
    Package("htmx.org", "2.0.11", ("dist/htmx.min.js", "LICENSE")),
    Package("htmx-ext-sse", "2.2.4", ("dist/sse.min.js", "LICENSE"), licence="0BSD"),
    Package("uplot", "1.6.32", ("dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE")),
    Package(
        "swagger-ui-dist",
        "5.35.0",
        ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE"),
    ),
    # Redoc 2 (its standalone bundle; 3.x changed the packaging).
    Package(
        "redoc",
        "2.5.4",
        ("bundles/redoc.standalone.js", "LICENSE"),
        patches=(
            (
                "bundles/redoc.standalone.js",
                "https://cdn.redoc.ly/redoc/logo-mini.svg",
                EMPTY_SVG,
                "the sidebar's Redocly logo is loaded from a CDN: an empty image instead",
            ),
        ),
    ),
)


def tarball_url(package: Package) -> str:
    base = package.name.rsplit("/", 1)[-1]
    return f"{REGISTRY}/{package.name}/-/{base}-{package.version}.tgz"


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        data: bytes = response.read()
    return data


def target(package: Package, inner: str) -> Path:
    # Flat per package: vendor/<package>/<file name>.
    return VENDOR_DIR / package.name / Path(inner).name


def vendor(package: Package) -> list[dict[str, str]]:
    with tarfile.open(fileobj=io.BytesIO(fetch(tarball_url(package))), mode="r:gz") as archive:
        meta = json.loads(_member(archive, "package.json"))
        contents = {inner: _member(archive, inner) for inner in package.files}
    licence = package.licence or meta.get("license") or "see LICENSE"
    notes: dict[str, list[str]] = {}
    for inner, old, new, why in package.patches:
        text = contents[inner].decode()
        if old not in text:
            raise SystemExit(f"{package.name} {inner}: patch target {old!r} not found")
        contents[inner] = text.replace(old, new).encode()
        notes.setdefault(inner, []).append(why)
    records = []
    for inner, data in contents.items():
        path = target(package, inner)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        records.append(
            {
                "file": path.relative_to(VENDOR_DIR).as_posix(),
                "package": package.name,
                "version": package.version,
                "licence": licence,
                "source": f"{tarball_url(package)}#package/{inner}",
                "sha256": hashlib.sha256(data).hexdigest(),
                **({"patched": "; ".join(notes[inner])} if inner in notes else {}),
            }
        )
    return records


def _member(archive: tarfile.TarFile, inner: str) -> bytes:
    member = archive.extractfile(f"package/{inner}")
    if member is None:
        raise SystemExit(f"{inner}: not a file in the tarball")
    return member.read()


def check() -> int:
    problems = []
    for record in json.loads(MANIFEST.read_text())["files"]:
        path = VENDOR_DIR / record["file"]
        if not path.is_file():
            problems.append(f"missing: {record['file']}")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != record["sha256"]:
            problems.append(f"changed: {record['file']}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify, download nothing")
    if parser.parse_args().check:
        return check()
    records = [record for package in PACKAGES for record in vendor(package)]
    manifest = {"registry": REGISTRY, "files": records}
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"vendored {len(records)} files into {VENDOR_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
