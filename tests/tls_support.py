"""Throwaway certificates for the mutual-TLS tests: a CA, a server certificate for
127.0.0.1/localhost and a client certificate, written as PEM files (trustme)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_pki(folder: Path, client_name: str = "taskgate-client") -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert(client_name)
    pki = Pki(
        folder / "root.pem",
        folder / "server.pem",
        folder / "server_key.pem",
        folder / "client.pem",
        folder / "client_key.pem",
    )
    ca.cert_pem.write_to_path(str(pki.ca))
    for blob in server.cert_chain_pems:
        blob.write_to_path(str(pki.server_cert), append=True)
    server.private_key_pem.write_to_path(str(pki.server_key))
    client.cert_chain_pems[0].write_to_path(str(pki.client_cert))
    client.private_key_pem.write_to_path(str(pki.client_key))
    return pki
