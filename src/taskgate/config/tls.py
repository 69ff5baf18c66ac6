"""`server.tls`: HTTPS on the main port (the native API, the dashboard and the doors mounted
there), with client certificates when a client CA is given."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from taskgate.config.base import Section


class ServerTls(Section):
    certfile: Path = Field(
        ..., description="Server certificate chain (PEM), relative to the config file's folder."
    )
    keyfile: Path = Field(..., description="The certificate's private key (PEM).")
    client_ca: Path | None = Field(
        None,
        description="CA (PEM) that signs client certificates; given, every client must present "
        "one (mutual TLS), besides its API key.",
    )

    def resolved(self, base: Path) -> ServerTls:
        """Relative file names are relative to the config file's folder."""
        return self.model_copy(
            update={
                name: base / path
                for name in ("certfile", "keyfile", "client_ca")
                if (path := getattr(self, name)) is not None
            }
        )
