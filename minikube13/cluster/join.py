"""Joining a cluster, the node's side (`minikube13 join`).

1. GET https://<server>/cacerts without verification, and trust that CA only when its sha256
   equals the hash in the token (k3s's CA pinning): else "the server's CA does not match".
2. Make (or keep: the key is the node's identity) pki/node.key and a CSR for
   system:node:<name>; POST it to /minikube13/v1/join over TLS verified by the pinned CA,
   with the token's `<id>.<secret>` as bearer token.
3. Write what the answer holds under the config directory (layout: credentials.AgentFiles):
   pki/ca.crt, pki/node.crt, pki/node.key (0600), gossip.key (0600), servers.json and
   node.kubeconfig.

A second join whose credentials are still good (same CA, same name, not near expiry) does
nothing. This module loads `cryptography` (lazily): the daemon runs `minikube13 join` as a
child rather than importing it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from minikube13.cluster import ClusterError, keys, tokens
from minikube13.cluster.credentials import AgentFiles, api_url, read_servers

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 30.0
CACERTS_PATH = "/cacerts"
JOIN_PATH = "/minikube13/v1/join"
KUBECONFIG_FILE = "node.kubeconfig"
CLUSTER_NAME = "minikube13"


class JoinError(ClusterError):
    """The join failed; the message says why and what to do."""


@dataclass(frozen=True)
class JoinResult:
    node_name: str
    ca_pem: bytes
    cert_pem: bytes
    key_path: Path
    gossip_key: bytes
    servers: list[dict[str, str]] = field(default_factory=list)  # [{api, gossip}]
    fingerprint: str = ""  # the node's identity (`id` gossip tag)
    already_joined: bool = False

    @property
    def api_urls(self) -> list[str]:
        return [s["api"] for s in self.servers if s.get("api")]

    @property
    def gossip_addresses(self) -> list[str]:
        return [s["gossip"] for s in self.servers if s.get("gossip")]


async def join(server: str, token: str, node_name: str, config_dir: Path) -> JoinResult:
    """Join the cluster of `server` (host[:port], port 6443 by default) with `token`."""
    pinned = tokens.parse_token(token)
    files = AgentFiles(config_dir)
    existing = _existing(files, pinned, node_name)
    if existing is not None:
        log.info("already joined node=%s config_dir=%s", node_name, config_dir)
        return existing
    url = api_url(server)
    ca_pem = await fetch_ca(url)
    if tokens.ca_hash(ca_pem) != pinned.ca_hash:
        raise JoinError(f"the server's CA does not match the token: {url}/cacerts has "
                        f"sha256 {tokens.ca_hash(ca_pem)}, the token pins {pinned.ca_hash} "
                        "(a wrong server, a token of another cluster, or someone in between)")
    from minikube13.cluster import nodecert
    key = nodecert.load_or_make_key(files.key)
    csr = nodecert.make_csr(key, node_name).decode()
    answer = await _post_join(url, ca_pem, pinned, {"nodeName": node_name, "csr": csr})
    result = _result(answer, ca_pem, node_name, files)
    _write_files(files, result, url)
    log.info("joined node=%s server=%s id=%s", node_name, url, result.fingerprint)
    return result


async def fetch_ca(url: str) -> bytes:
    """The server's CA bundle, fetched WITHOUT verification (the caller pins it by hash)."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.get(url + CACERTS_PATH, ssl=False) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise JoinError(f"{url}{CACERTS_PATH} answered {resp.status}: is this a "
                                "minikube13 server?")
            return body
    except (aiohttp.ClientError, TimeoutError) as e:
        raise JoinError(f"cannot reach the server at {url}: {e or type(e).__name__}") from None


async def _post_join(url: str, ca_pem: bytes, token: tokens.JoinToken,
                     body: dict[str, str]) -> dict[str, Any]:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    headers = {"Authorization": f"Bearer {token.bearer}"}
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.post(url + JOIN_PATH, json=body, headers=headers, ssl=ctx) as resp:
            answer = await resp.json(content_type=None)
            status = resp.status
    except aiohttp.ClientConnectorCertificateError as e:
        raise JoinError(f"the server at {url} has a certificate the pinned CA does not "
                        f"accept for this address: {e.certificate_error}") from None
    except (aiohttp.ClientError, TimeoutError, ValueError) as e:
        raise JoinError(f"the join request to {url} failed: {e or type(e).__name__}") from None
    if status == 401:
        raise JoinError("the server refused the token: it is unknown, revoked or expired "
                        "(`minikube13 token list` on a server shows the valid ones)")
    if status != 200 or not isinstance(answer, dict):
        message = answer.get("message") if isinstance(answer, dict) else None
        raise JoinError(f"the server refused the join ({status}): {message or answer}")
    return answer


def _result(answer: dict[str, Any], ca_pem: bytes, node_name: str,
            files: AgentFiles) -> JoinResult:
    cert, ca = answer.get("certificate"), answer.get("ca")
    if not isinstance(cert, str) or "BEGIN CERTIFICATE" not in cert:
        raise JoinError("the join answer holds no certificate")
    if ca is not None and (not isinstance(ca, str) or
                           tokens.ca_hash(ca.encode()) != tokens.ca_hash(ca_pem)):
        raise JoinError("the join answer names another CA than the one the token pins")
    try:
        gossip_key = base64.b64decode(str(answer.get("gossipKey", "")), validate=True)
    except (binascii.Error, ValueError):
        gossip_key = b""
    if len(gossip_key) not in (16, 24, 32):
        raise JoinError("the join answer holds no usable gossip key")
    servers = [{k: str(v) for k, v in s.items() if k in ("api", "gossip")}
               for s in answer.get("servers") or [] if isinstance(s, dict)]
    return JoinResult(node_name, ca_pem, cert.encode(), files.key, gossip_key, servers,
                      keys.cert_fingerprint(cert.encode()))


def _existing(files: AgentFiles, pinned: tokens.JoinToken,
              node_name: str) -> JoinResult | None:
    """The result of an earlier join when its credentials are still good for this one."""
    kubeconfig = files.config_dir / KUBECONFIG_FILE
    needed = (files.ca, files.cert, files.key, files.gossip_key, files.servers_file, kubeconfig)
    if not all(p.exists() for p in needed):
        return None
    ca_pem = files.ca.read_bytes()
    if tokens.ca_hash(ca_pem) != pinned.ca_hash:
        return None
    from minikube13.cluster import nodecert
    if not nodecert.node_cert_usable(files.cert, files.key, ca_pem, node_name,
                                     dt.datetime.now(dt.UTC)):
        return None
    try:
        gossip_key = keys.read_gossip_key(files.gossip_key)
    except (OSError, ClusterError):
        return None
    cert = files.cert.read_bytes()
    return JoinResult(node_name, ca_pem, cert, files.key, gossip_key,
                      read_servers(files.servers_file), keys.cert_fingerprint(cert),
                      already_joined=True)


def _write_files(files: AgentFiles, result: JoinResult, url: str) -> None:
    files.ca.parent.mkdir(parents=True, exist_ok=True)
    files.ca.parent.chmod(0o700)
    keys.write_private(files.ca, result.ca_pem, 0o644)
    keys.write_private(files.cert, result.cert_pem, 0o644)
    keys.write_gossip_key(files.gossip_key, result.gossip_key)
    servers = json.dumps({"servers": result.servers}, indent=2).encode() + b"\n"
    keys.write_private(files.servers_file, servers, 0o644)
    keys.write_private(files.config_dir / KUBECONFIG_FILE,
                       node_kubeconfig(files, result.node_name, url), 0o600)


def node_kubeconfig(files: AgentFiles, node_name: str, url: str) -> bytes:
    """A kubeconfig for this node's identity; it names the files, so a renewed certificate
    needs no new kubeconfig."""
    user = f"system:node:{node_name}"
    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": CLUSTER_NAME, "cluster": {
            "server": url, "certificate-authority": str(files.ca.absolute())}}],
        "users": [{"name": user, "user": {"client-certificate": str(files.cert.absolute()),
                                          "client-key": str(files.key.absolute())}}],
        "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME,
                                                        "user": user}}],
        "current-context": CLUSTER_NAME,
    }
    return yaml.safe_dump(doc, sort_keys=False).encode()


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """Set `values` in a systemd environment file, keeping its other lines (0600: it
    holds the join token)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        lines = []
    pending = dict(values)
    out: list[str] = []
    for line in lines:
        name = line.strip().removeprefix("export ").split("=", 1)[0].strip()
        if "=" in line and name in pending:
            out.append(f"{name}={pending.pop(name)}")
        else:
            out.append(line)
    out.extend(f"{name}={value}" for name, value in pending.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    keys.write_private(path, ("\n".join(out) + "\n").encode(), 0o600)
