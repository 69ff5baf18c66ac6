"""The QRS door on its own HTTPS port, with client certificates required (mutual TLS)."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from tests.conftest import StartServer, free_port
from tests.qrs.conftest import QrsClient, tls_listen
from tests.support import QUICK_ID, STANDARD_TASKS


def tls_client(port: int, pki: dict[str, Path], cert: str | None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    if cert is not None:
        context.load_cert_chain(str(pki[cert]), str(pki[f"{cert}_key"]))
    return httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=context, timeout=30)


def test_mutual_tls_listener(start_server: StartServer, pki: dict[str, Path]) -> None:
    port = free_port()
    listen = tls_listen(pki, port)
    server = start_server(
        {"qrs": {"enabled": True, "allow_from": ["10.0.0.0/8"], "listen": listen}},
        tasks=STANDARD_TASKS,
    )
    with tls_client(port, pki, "client") as http:
        qrs = QrsClient(http)
        assert qrs.get("/about").status_code == 200
        # The plain port's allow-list does not apply behind the certificate check.
        assert qrs.post(f"/task/{QUICK_ID}/start").status_code == 204
        assert qrs.get("/about", headers={"X-Qlik-Xrfkey": "x"}).status_code == 403
    for cert in (None, "stranger"):
        with tls_client(port, pki, cert) as http, pytest.raises(httpx.TransportError):
            QrsClient(http).get("/about")
    assert server.running


def test_missing_certificate_file_stops_startup(start_server: StartServer, tmp_path: Path) -> None:
    listen = {
        "port": free_port(),
        "cert": str(tmp_path / "absent.pem"),
        "key": str(tmp_path / "absent.pem"),
        "client_ca": str(tmp_path / "absent.pem"),
    }
    server = start_server({"qrs": {"enabled": True, "listen": listen}}, start=False)
    assert server.start_or_exit() not in (None, 0)
    assert "qrs.listen.cert" in server.log_text()
