"""Where the door's templates and static files live, and the one Jinja environment."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2 import Environment, Template

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
# Every page's scripts, styles and fonts are served from here, out of the installed package.
STATIC_PREFIX = "/ui/static"


def static_url(path: str) -> str:
    return f"{STATIC_PREFIX}/{path.lstrip('/')}"


def environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(("html",)),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    return env


class Templates:
    """The door's one environment, with its filters, built when the first page is rendered:
    a server whose pages nobody opens never imports Jinja2 (idle memory, ~1.5 MiB)."""

    def __init__(self) -> None:
        self._env: Environment | None = None

    @property
    def env(self) -> Environment:
        if self._env is None:
            from taskgate.doors.web import filters

            env = environment()
            filters.install(env)
            self._env = env
        return self._env

    def get_template(self, name: str) -> Template:
        return self.env.get_template(name)
