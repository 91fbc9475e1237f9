"""The daemon's side of TLS: where the certificates live and the server's SSL context.

Issuing certificates needs `cryptography` (minikube13.auth.pki); the daemon runs that in a
short-lived child (`minikube13 certs ensure`) so the long-running process never loads it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


class PkiError(Exception):
    """The PKI directory is in a state the daemon will not repair on its own."""


@dataclass(frozen=True)
class PkiPaths:
    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    @property
    def admin_cert(self) -> Path:
        return self.root / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.root / "admin.key"


def server_ssl_context(paths: PkiPaths) -> ssl.SSLContext:
    """TLS 1.2+; client certificates optional, but when sent they must chain to our CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(paths.server_cert), str(paths.server_key))
    ctx.load_verify_locations(cafile=str(paths.ca_cert))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
