"""The MQTT door over TLS with a client certificate and a password, on a private Mosquitto.

The broker has two listeners: TLS with a required client certificate and a password file
(taskgate), and plain anonymous on another port (the test's own probe).
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import StartServer, free_port
from tests.mqtt_support import MqttProbe, PrivateBroker
from tests.support import STANDARD_TASKS, ok_json
from tests.tls_support import Pki, make_pki


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[PrivateBroker, int, Pki]]:
    pki = make_pki(tmp_path / "pki")
    passwd = tmp_path / "passwd"
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    subprocess.run([tool, "-b", "-c", str(passwd), "taskgate", "s3cret"], check=True)
    broker = PrivateBroker(tmp_path / "mosquitto")
    tls_port = free_port()
    plain = broker.conf.read_text().replace("allow_anonymous true\n", "")
    broker.conf.write_text(
        "per_listener_settings true\n"
        + plain.replace(
            f"listener {broker.port} 127.0.0.1\n",
            f"listener {broker.port} 127.0.0.1\nallow_anonymous true\n"
            f"listener {tls_port} 127.0.0.1\nallow_anonymous false\n"
            f"password_file {passwd}\ncafile {pki.ca}\ncertfile {pki.server_cert}\n"
            f"keyfile {pki.server_key}\nrequire_certificate true\n",
        )
    )
    broker.start()
    yield broker, tls_port, pki
    broker.stop()


def test_tls_with_client_certificate_and_password(
    start_server: StartServer, tls_broker: tuple[PrivateBroker, int, Pki]
) -> None:
    broker, tls_port, pki = tls_broker
    topics = f"tls/{uuid.uuid4().hex[:8]}"
    server = start_server(
        {
            "mqtt": {
                "enabled": True,
                "port": tls_port,
                "tls": {
                    "enabled": True,
                    "ca_file": str(pki.ca),
                    "cert_file": str(pki.client_cert),
                    "key_file": str(pki.client_key),
                },
                "username": "taskgate",
                "password": "s3cret",
                "start": {"topic": f"{topics}/start", "final_reply": False},
            }
        },
        tasks=STANDARD_TASKS,
    )
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert ok_json(http.get("/readyz"))["checks"]["mqtt"] == "connected"
    probe = MqttProbe("127.0.0.1", broker.port)
    try:
        probe.subscribe(f"{topics}/reply")
        probe.publish(f"{topics}/start", "quick", response_topic=f"{topics}/reply")
        assert probe.wait_on(f"{topics}/reply")[0].json()["started"] == 1
    finally:
        probe.close()
