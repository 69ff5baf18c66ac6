"""Where the door's templates and static files live, and the one Jinja environment."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
# Every page's scripts, styles and fonts are served from here, out of the installed package.
STATIC_PREFIX = "/ui/static"


def static_url(path: str) -> str:
    return f"{STATIC_PREFIX}/{path.lstrip('/')}"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(("html",)),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    return env
