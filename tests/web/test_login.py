"""Logging in to the dashboard with an API key: the session cookie, logout, CSRF tokens,
and a key that stops working ends its sessions."""

from __future__ import annotations

import pytest

from tests.conftest import ServerProcess, StartServer
from tests.web.support import KEYS, admin_key, hidden, keyed_server, login, make_key


@pytest.fixture
def keyed(start_server: StartServer) -> ServerProcess:
    return keyed_server(start_server)


def test_a_visitor_sees_the_landing_page_and_the_pages_ask_for_a_login(
    keyed: ServerProcess,
) -> None:
    with keyed.client() as http:
        landing = http.get("/")
        assert landing.status_code == 200
        assert 'href="/ui/login"' in landing.text and "Overview" not in landing.text
        csp = landing.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        page = http.get("/ui/overview/live")
        assert page.status_code == 303
        assert page.headers["location"] == "/ui/login?next=/ui/overview/live"
        # htmx follows HX-Redirect instead of swapping a login form into a fragment.
        fragment = http.get("/ui/overview/live", headers={"HX-Request": "true"})
        assert fragment.status_code == 401 and fragment.headers["hx-redirect"].startswith(
            "/ui/login"
        )


def test_login_sets_a_strict_http_only_session_and_logout_ends_it(keyed: ServerProcess) -> None:
    with keyed.client() as http:
        form = http.get("/ui/login")
        token = hidden(form.text, "login_token")
        wrong = http.post("/ui/login", data={"key": "tg_nope_nope", "login_token": token})
        assert wrong.status_code == 401 and "Not logged in" in wrong.text
        form = http.get("/ui/login")
        answer = http.post(
            "/ui/login",
            data={
                "key": admin_key(keyed),
                "login_token": hidden(form.text, "login_token"),
                "next": "https://evil.example/",
            },
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        cookie = answer.headers["set-cookie"]
        assert "taskgate_session=" in cookie and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie.replace("Strict", "strict") and "Max-Age=" in cookie
        overview = http.get("/")
        assert overview.status_code == 200 and "<h1>Overview</h1>" in overview.text
        csrf = hidden(overview.text, "csrf_token")
        refused = http.post("/ui/logout")
        assert refused.status_code == 403 and "CSRF" in refused.text
        assert http.post("/ui/logout", data={"csrf_token": csrf}).status_code == 303
        assert "<h1>Overview</h1>" not in http.get("/").text


def test_the_login_form_needs_its_own_token(keyed: ServerProcess) -> None:
    with keyed.client() as http:
        answer = http.post("/ui/login", data={"key": admin_key(keyed)})
        assert answer.status_code == 403
        assert "taskgate_session" not in answer.headers.get("set-cookie", "")


def test_a_revoked_key_ends_its_sessions(keyed: ServerProcess) -> None:
    secret = make_key(keyed, "viewer", "short-lived")
    with keyed.client() as http:
        login(http, secret)
        assert http.get("/ui/overview/live").status_code == 200
        with keyed.client(headers={"Authorization": f"Bearer {admin_key(keyed)}"}) as api:
            assert api.delete(f"/api/v1/keys/{secret.split('_')[1]}").status_code == 200
        assert http.get("/ui/overview/live").status_code == 303


def test_open_mode_logs_in_without_a_key(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as http:
        form = http.get("/ui/login")
        assert "open mode" in form.text
        answer = http.post("/ui/login", data={"login_token": hidden(form.text, "login_token")})
        assert answer.status_code == 303
        assert "<h1>Overview</h1>" in http.get("/").text


def test_the_session_cookie_is_secure_behind_a_tls_proxy(start_server: StartServer) -> None:
    server = start_server({**KEYS, "server": {"trusted_proxies": ["127.0.0.1"]}})
    behind_tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    with server.client(headers=behind_tls) as http:
        form = http.get("/ui/login")
        assert "Secure" in form.headers["set-cookie"]
        token = hidden(form.text, "login_token")
        # httpx keeps Secure cookies for https: the test talks plain HTTP to the "proxy" side.
        answer = http.post(
            "/ui/login",
            data={"key": admin_key(server), "login_token": token},
            headers={"Cookie": f"taskgate_login={token}"},
        )
        assert answer.status_code == 303
        session = next(c for c in answer.headers.get_list("set-cookie") if "taskgate_session=" in c)
        assert "Secure" in session and "HttpOnly" in session
