"""An agent's credentials as `minikube13 join` leaves them under the config directory:

    pki/ca.crt        the cluster CA (pinned by the join token's hash)
    pki/node.crt/key  this node's client certificate, CN=system:node:<name>
    node.kubeconfig   the same, for kubectl
    gossip.key        the cluster's gossip key
    servers.json      {"servers": [{"api": "https://a:p", "gossip": "a:p"}, ...]}

The agent's own API serves TLS with a local CA of its own under `local-pki/` (it has no
cluster CA key to issue a serving certificate), and accepts clients of both CAs.
"""

from __future__ import annotations

import json
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_API_PORT = 6443


@dataclass(frozen=True)
class AgentFiles:
    config_dir: Path

    @property
    def ca(self) -> Path:
        return self.config_dir / "pki" / "ca.crt"

    @property
    def cert(self) -> Path:
        return self.config_dir / "pki" / "node.crt"

    @property
    def key(self) -> Path:
        return self.config_dir / "pki" / "node.key"

    @property
    def servers_file(self) -> Path:
        return self.config_dir / "servers.json"

    @property
    def gossip_key(self) -> Path:
        return self.config_dir / "gossip.key"

    @property
    def local_pki(self) -> Path:
        return self.config_dir / "local-pki"

    def complete(self) -> bool:
        return all(p.exists() for p in (self.ca, self.cert, self.key))


def api_url(server: str) -> str:
    """`host[:port]` (or a URL) as the https URL of a server's API (port 6443 if none)."""
    text = server.strip().removeprefix("https://").rstrip("/")
    has_port = "]:" in text if text.startswith("[") else ":" in text
    return f"https://{text}" if has_port else f"https://{text}:{DEFAULT_API_PORT}"


def read_servers(path: Path) -> list[dict[str, str]]:
    """The servers the join learnt ([] when the file is missing or unreadable)."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        log.warning("servers file unreadable path=%s error=%s", path, e)
        return []
    servers = doc.get("servers") if isinstance(doc, dict) else None
    return [s for s in servers or [] if isinstance(s, dict)]


def server_urls(flag_server: str, files: AgentFiles) -> list[str]:
    """The API URLs to try, the one given on the command line first."""
    urls = [api_url(flag_server)] if flag_server else []
    for entry in read_servers(files.servers_file):
        api = entry.get("api")
        if isinstance(api, str) and api:
            urls.append(api.rstrip("/"))
    return list(dict.fromkeys(urls))


def client_ssl_context(files: AgentFiles) -> ssl.SSLContext:
    """TLS to the servers: verify them by the cluster CA, prove ourselves by the node cert."""
    ctx = ssl.create_default_context(cafile=str(files.ca))
    ctx.load_cert_chain(str(files.cert), str(files.key))
    return ctx
