"""Join tokens and joining against a real daemon: `minikube13 token create|list|revoke`,
the Secrets kubectl shows, the open /cacerts, and `minikube13 join` getting a node
certificate the API accepts; a wrong CA pin, a revoked and an expired token are refused."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cryptography import x509

from .conftest import KUBECTL, DaemonProcess

TOKEN = re.compile(r"^K10([0-9a-f]{64})::([a-z0-9]{6})\.([a-z0-9]{16})$")


def create_token(daemon: DaemonProcess, *args: str) -> tuple[str, str]:
    """(the full token, its id) from `minikube13 token create`."""
    out = daemon.cli("token", "create", *args).stdout.strip()
    match = TOKEN.match(out)
    assert match, out
    return out, match.group(2)


def join(daemon: DaemonProcess, token: str, name: str, config_dir: Path,
         *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "minikube13", "join", f"127.0.0.1:{daemon.port}",
           "--token", token, "--node-name", name, "--config-dir", str(config_dir), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def post_join(daemon: DaemonProcess, bearer: str, body: dict[str, Any] | None = None,
              path: str = "/minikube13/v1/join") -> tuple[int, dict[str, Any]]:
    """A raw request with `Authorization: Bearer`, TLS verified, no client certificate."""
    ctx = ssl.create_default_context(cafile=str(daemon.pki / "ca.crt"))
    data = json.dumps(body or {"nodeName": "x", "csr": "none"}).encode()
    req = urllib.request.Request(daemon.url + path, data=data if path.endswith("join") else None,
                                 headers={"Authorization": f"Bearer {bearer}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_token_create_list_revoke(daemon: DaemonProcess) -> None:
    """A token pins the CA's sha256; list shows it, kubectl shows its Secret; revoke ends both."""
    token, token_id = create_token(daemon, "--ttl", "2h", "--description", "rack 7")
    ca_hash = hashlib.sha256((daemon.pki / "ca.crt").read_bytes()).hexdigest()
    assert token.startswith(f"K10{ca_hash}::")
    listed = daemon.cli("token", "list").stdout
    header, *rows = listed.splitlines()
    assert header.split()[:4] == ["ID", "TTL", "EXPIRES", "USAGES"]
    mine = [r for r in rows if r.startswith(token_id)]
    assert len(mine) == 1 and "rack 7" in mine[0] and re.search(r"\s(1h|2h)\s", mine[0])
    assert token.split(".")[-1] not in listed  # the secret is never listed
    secrets = daemon.kubectl("-n", "kube-system", "get", "secrets").stdout
    assert re.search(rf"bootstrap-token-{token_id}\s+bootstrap.kubernetes.io/token\s+5\s",
                     secrets), secrets
    assert daemon.cli("token", "revoke", token_id).stdout.strip() == \
        f"join token {token_id} revoked"
    assert token_id not in daemon.cli("token", "list").stdout
    gone = daemon.kubectl("-n", "kube-system", "get", "secret",
                          f"bootstrap-token-{token_id}", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    again = daemon.cli("token", "revoke", token_id, check=False)
    assert again.returncode != 0 and f"no join token with id {token_id}" in again.stderr


def test_cacerts_is_open(daemon: DaemonProcess) -> None:
    """/cacerts answers without any credentials, with exactly the CA file's bytes."""
    ctx = ssl.create_default_context(cafile=str(daemon.pki / "ca.crt"))
    with urllib.request.urlopen(daemon.url + "/cacerts", context=ctx, timeout=10) as resp:
        assert resp.status == 200
        assert resp.read() == (daemon.pki / "ca.crt").read_bytes()


def test_join_gets_a_node_certificate_the_api_accepts(daemon: DaemonProcess,
                                                      tmp_path: Path) -> None:
    """join writes the node's credentials; requests with them are system:node:<name>."""
    token, _ = create_token(daemon)
    node_dir, env_file = tmp_path / "edge", tmp_path / "minikube13d.env"
    env_file.write_text("# settings\nMINIKUBE13_ZONE=z1\n")
    res = join(daemon, token, "edge-1", node_dir, "--env-file", str(env_file))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("joined: node edge-1 (id ")
    cert = x509.load_pem_x509_certificate((node_dir / "pki" / "node.crt").read_bytes())
    assert cert.subject.rfc4514_string() == "CN=system:node:edge-1,O=system:nodes"
    assert (node_dir / "pki" / "ca.crt").read_bytes() == (daemon.pki / "ca.crt").read_bytes()
    for private in ("pki/node.key", "gossip.key", "node.kubeconfig"):
        assert (node_dir / private).stat().st_mode & 0o777 == 0o600, private
    assert (node_dir / "gossip.key").read_bytes() == (daemon.config_dir / "gossip.key").read_bytes()
    assert len(base64.b64decode((node_dir / "gossip.key").read_text())) == 32
    servers = json.loads((node_dir / "servers.json").read_text())["servers"]
    assert servers[0] == {"api": daemon.url, "gossip": f"127.0.0.1:{daemon.gossip_port}"}
    env = env_file.read_text().splitlines()
    assert env == ["# settings", "MINIKUBE13_ZONE=z1", f"MINIKUBE13_SERVER=127.0.0.1:{daemon.port}",
                   f"MINIKUBE13_TOKEN={token}", "MINIKUBE13_NODE_NAME=edge-1"]

    kubeconfig = str(node_dir / "node.kubeconfig")
    name = f"from-edge-{int(time.time() * 1000) % 10**8}"
    made = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, "create", "configmap", name],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    deadline = time.monotonic() + 5
    daemon.kubectl("get", "configmap", name)  # made...
    audit = "audit user=system:node:edge-1 verb=create resource=configmaps object=default/"
    while audit not in daemon.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert audit in daemon.log()  # ...by the node's identity

    before = (node_dir / "pki" / "node.crt").read_bytes()
    second = join(daemon, token, "edge-1", node_dir)
    assert second.returncode == 0 and second.stdout.startswith("already joined: node edge-1")
    assert (node_dir / "pki" / "node.crt").read_bytes() == before


def test_wrong_ca_hash_is_refused(daemon: DaemonProcess, tmp_path: Path) -> None:
    """A token pinning another CA: join stops before sending anything, writes nothing."""
    token, _ = create_token(daemon)
    forged = "K10" + "0" * 64 + token[67:]
    res = join(daemon, forged, "edge-2", tmp_path / "edge")
    assert res.returncode != 0
    assert "the server's CA does not match the token" in res.stderr
    assert not (tmp_path / "edge" / "pki" / "node.crt").exists()


def test_revoked_token_gets_401(daemon: DaemonProcess, tmp_path: Path) -> None:
    """Once revoked, the token is refused (401) and join says so."""
    token, token_id = create_token(daemon)
    daemon.cli("token", "revoke", token_id)
    status, body = post_join(daemon, token.split("::")[1])
    assert (status, body.get("reason")) == (401, "Unauthorized")
    res = join(daemon, token, "edge-3", tmp_path / "edge")
    assert res.returncode != 0 and "the server refused the token" in res.stderr


def test_expired_token_gets_401(daemon: DaemonProcess) -> None:
    """A bootstrap-token Secret past its expiration (written by kubectl, kubeadm-style) is 401;
    the same one unexpired is accepted."""
    for token_id, expiration, want in (("exp0ld", "2020-01-01T00:00:00Z", 401),
                                       ("n0told", "2099-01-01T00:00:00Z", 400)):
        manifest = {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
                    "metadata": {"name": f"bootstrap-token-{token_id}",
                                 "namespace": "kube-system"},
                    "stringData": {"token-id": token_id, "token-secret": "0123456789abcdef",
                                   "expiration": expiration,
                                   "usage-bootstrap-authentication": "true"}}
        daemon.kubectl("apply", "-f", "-", input=json.dumps(manifest))
        status, _ = post_join(daemon, f"{token_id}.0123456789abcdef")
        assert status == want  # 400: authenticated, then the made-up CSR is refused


def test_bootstrap_token_may_only_join(daemon: DaemonProcess) -> None:
    """A valid bootstrap token reads nothing else (no RBAC yet: 403 off the join path)."""
    token, _ = create_token(daemon)
    status, body = post_join(daemon, token.split("::")[1],
                             path="/api/v1/namespaces/kube-system/secrets")
    assert (status, body.get("reason")) == (403, "Forbidden")


def test_join_answer_shape(daemon: DaemonProcess) -> None:
    """POST /minikube13/v1/join: certificate, CA, 32-byte gossip key and the servers."""
    from minikube13.cluster import nodecert
    token, _ = create_token(daemon)
    key = nodecert.load_or_make_key(daemon.root / "raw-node.key")
    csr = nodecert.make_csr(key, "ignored").decode()
    status, body = post_join(daemon, token.split("::")[1], {"nodeName": "edge-4", "csr": csr})
    assert status == 200, body
    assert set(body) == {"certificate", "ca", "gossipKey", "servers"}
    cert = x509.load_pem_x509_certificate(body["certificate"].encode())
    assert cert.subject.rfc4514_string() == "CN=system:node:edge-4,O=system:nodes"
    assert len(base64.b64decode(body["gossipKey"])) == 32
    bad, _ = post_join(daemon, token.split("::")[1], {"nodeName": "Bad Name!", "csr": csr})
    assert bad == 400

