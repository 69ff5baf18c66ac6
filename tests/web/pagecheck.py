"""What a page may reference: only this server. Finds every URL an HTML page or a stylesheet
names (src, href, action, url(...), <redoc spec-url>) and tells those that leave the server."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

URL_ATTRIBUTES = {"src", "href", "action", "spec-url", "data-openapi-url", "poster", "srcset"}
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)")
CSS_IMPORT = re.compile(r"@import\s+['\"]([^'\"]+)")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in URL_ATTRIBUTES and value:
                self.urls.append(value.strip())


def page_urls(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


def css_urls(css: str) -> list[str]:
    return CSS_URL.findall(css) + CSS_IMPORT.findall(css)


def leaves_server(url: str) -> bool:
    """A URL with a host or a scheme other than data: reaches outside (//cdn, https://...)."""
    parts = urlsplit(url)
    if parts.scheme == "data" or url.startswith("#"):
        return False
    return bool(parts.scheme or parts.netloc or url.startswith("//"))


CONTROLS = {"input", "select", "textarea"}
NOT_SHOWN = {"hidden", "submit", "button"}


class _Controls(HTMLParser):
    """Form controls and the labels that name them (for=, wrapping, or aria-label)."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.open_labels = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "label":
            self.open_labels += 1
            if named.get("for"):
                self.label_for.add(named["for"] or "")
        elif tag in CONTROLS and named.get("type") not in NOT_SHOWN:
            self.controls.append({**named, "_wrapped": "1" if self.open_labels else None})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self.open_labels:
            self.open_labels -= 1


def unlabelled_controls(html: str) -> list[str]:
    """The name of each visible form control that no label names."""
    parser = _Controls()
    parser.feed(html)
    return [
        str(c.get("name") or c.get("id") or "?")
        for c in parser.controls
        if not (c["_wrapped"] or c.get("aria-label") or c.get("aria-labelledby"))
        and c.get("id") not in parser.label_for
    ]
