"""How the client checks a server over HTTPS: against a CA file (a server with a certificate
of its own CA), with a client certificate (a server that asks for one), or the system's CAs."""

from __future__ import annotations

import os
import ssl

CA_FILE_ENV = "TASKGATE_CA_FILE"
CLIENT_CERT_ENV = "TASKGATE_CLIENT_CERT"
CLIENT_KEY_ENV = "TASKGATE_CLIENT_KEY"


def ssl_context(
    ca_file: str | None = None,
    client_cert: str | None = None,
    client_key: str | None = None,
    *,
    verify: bool = True,
) -> ssl.SSLContext:
    """The TLS context for one client; unset files default to TASKGATE_CA_FILE,
    TASKGATE_CLIENT_CERT and TASKGATE_CLIENT_KEY. `verify=False` accepts any certificate
    (testing only)."""
    ca_file = ca_file or os.environ.get(CA_FILE_ENV) or None
    client_cert = client_cert or os.environ.get(CLIENT_CERT_ENV) or None
    client_key = client_key or os.environ.get(CLIENT_KEY_ENV) or None
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert:
        context.load_cert_chain(client_cert, client_key)
    return context
