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
