"""The Host and Origin check, without a server: names, ports, brackets, CORS, methods."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from taskgate.config.settings import Settings
from taskgate.doors.hostnames import HostNames, host_of
from taskgate.doors.originguard import OriginGuard

NAMES = HostNames(["localhost", "127.0.0.1", "::1", "taskgate.example.com"])


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("localhost", "localhost"),
        ("LOCALHOST:8080", "localhost"),
        ("[::1]:8080", "::1"),
        ("[::1]", "::1"),
        ("taskgate.example.com.", "taskgate.example.com"),
        ("127.0.0.1:80", "127.0.0.1"),
    ],
)
def test_host_of_a_header(header: str, host: str) -> None:
    assert host_of(header) == host


@pytest.mark.parametrize(
    ("origin", "ours"),
    [
        ("http://localhost:8080", True),
        ("https://taskgate.example.com", True),
        ("http://[::1]:3000", True),
        ("http://evil.example", False),
        ("http://localhost.evil.example", False),
        ("null", False),
        ("file://", False),
        ("ftp://localhost", False),
        ("http://[bad", False),
        ("", False),
    ],
)
def test_whose_origin(origin: str, ours: bool) -> None:
    assert NAMES.origin_is_ours(origin) is ours


def guard(cors: tuple[str, ...] = ()) -> OriginGuard:
    async def app(*_: object) -> None:
        raise AssertionError("not called")

    names = HostNames(NAMES.names, cors)
    return OriginGuard(app, names=names, refusal=lambda s, m, f: b"{}")


def problem(method: str, headers: dict[str, str], cors: tuple[str, ...] = ()) -> str | None:
    found = guard(cors).problem(method, Headers(headers))
    return None if found is None else f"{found[0]} {found[2]}"


def test_the_rule() -> None:
    assert problem("GET", {"host": "localhost:8080"}) is None
    assert problem("GET", {}) == "421 Host"
    assert problem("GET", {"host": "evil.example"}) == "421 Host"
    # Reads are not refused for their Origin: without CORS headers the page cannot read them.
    assert problem("GET", {"host": "localhost", "origin": "http://evil.example"}) is None
    assert problem("POST", {"host": "localhost", "origin": "http://evil.example"}) == "403 Origin"
    assert problem("delete", {"host": "localhost", "origin": "null"}) == "403 Origin"
    assert problem("POST", {"host": "localhost", "sec-fetch-site": "cross-site"}) == (
        "403 Sec-Fetch-Site"
    )
    assert problem("POST", {"host": "localhost", "sec-fetch-site": "same-site"}) is None
    assert problem("POST", {"host": "localhost", "origin": "http://localhost:9"}) is None
    # An origin the operator lets in (CORS) may change things, though it is another site.
    cors = ("https://portal.example",)
    allowed = {
        "host": "localhost",
        "origin": "https://portal.example",
        "sec-fetch-site": "cross-site",
    }
    assert problem("POST", allowed, cors) is None
    assert problem("POST", allowed) == "403 Origin"


def test_the_names_a_server_answers_to() -> None:
    assert Settings().host_names == ["localhost", "127.0.0.1", "::1"]
    settings = Settings.model_validate(
        {
            "server": {
                "host": "0.0.0.0",
                "public_url": "https://Jobs.Example.com:8443/",
                "hostnames": ["lb.internal", "[fd00::1]"],
            },
        }
    )
    assert settings.host_names == [
        "localhost",
        "127.0.0.1",
        "::1",
        "jobs.example.com",
        "lb.internal",
        "fd00::1",
    ]
    assert "10.1.2.3" in Settings.model_validate({"server": {"host": "10.1.2.3"}}).host_names


@pytest.mark.parametrize(
    ("section", "value"),
    [
        ("hostnames", "http://x.example"),
        ("hostnames", "x.example:8080"),
        ("hostnames", ""),
        ("cors_origins", "portal.example"),
        ("cors_origins", "https://portal.example/path"),
    ],
)
def test_bad_names_are_config_errors(section: str, value: str) -> None:
    with pytest.raises(ValueError, match=section):
        Settings.model_validate({"server": {section: [value]}})
