"""The running daemon as a user meets it: kubectl over TLS, refusals, the local socket."""

from __future__ import annotations

import json
import socket
import ssl
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from minikube13.auth import pki

from .conftest import DaemonProcess

BOOTSTRAP = {"namespace/default", "namespace/kube-system", "namespace/kube-public"}


def _https_get(url: str, ctx: ssl.SSLContext) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=10) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _unix_get(path: Path, target: str) -> tuple[int, bytes]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                  .encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_kubectl_lists_the_bootstrap_namespaces(daemon: DaemonProcess) -> None:
    """`kubectl get ns` with the admin kubeconfig shows default, kube-system, kube-public."""
    out = daemon.kubectl("get", "ns", "-o", "name").stdout.split()
    assert BOOTSTRAP <= set(out)


def test_kubectl_talks_tls_with_the_cluster_ca(daemon: DaemonProcess) -> None:
    """kubectl verifies the serving certificate (no --insecure-skip-tls-verify needed)."""
    res = daemon.kubectl("get", "--raw", "/api/v1/namespaces/default")
    assert json.loads(res.stdout)["metadata"]["name"] == "default"


def test_request_without_client_certificate_gets_401(daemon: DaemonProcess) -> None:
    """TLS without a client certificate is refused with a 401 Unauthorized Status."""
    ctx = ssl.create_default_context(cafile=str(daemon.pki / "ca.crt"))
    code, body = _https_get(f"{daemon.url}/api/v1/namespaces", ctx)
    assert code == 401
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized"


def test_health_endpoints_answer_without_login(daemon: DaemonProcess) -> None:
    """/readyz answers anyone (load balancers and systemd checks have no certificate)."""
    ctx = ssl.create_default_context(cafile=str(daemon.pki / "ca.crt"))
    with urllib.request.urlopen(f"{daemon.url}/readyz", context=ctx, timeout=10) as resp:
        assert resp.status == 200


def test_client_certificate_from_another_ca_is_refused(daemon: DaemonProcess,
                                                      tmp_path: Path) -> None:
    """A client certificate from a different CA never gets a request through."""
    other = pki.ensure_pki(tmp_path / "other", pki.serving_names("x", "127.0.0.1"))
    ctx = ssl.create_default_context(cafile=str(daemon.pki / "ca.crt"))
    ctx.load_cert_chain(str(other.admin_cert), str(other.admin_key))
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        _https_get(f"{daemon.url}/api/v1/namespaces", ctx)


def test_kubectl_with_a_foreign_kubeconfig_fails(daemon: DaemonProcess, tmp_path: Path) -> None:
    """A kubeconfig from another cluster cannot even complete the TLS handshake."""
    other = pki.ensure_pki(tmp_path / "other", pki.serving_names("x", "127.0.0.1"))
    kubeconfig = tmp_path / "other.kubeconfig"
    pki.write_admin_kubeconfig(kubeconfig, other, daemon.url)
    res = daemon.kubectl("--kubeconfig", str(kubeconfig), "get", "ns", check=False)
    assert res.returncode != 0
    assert "certificate" in res.stderr.lower() or "tls" in res.stderr.lower()


def test_unix_socket_as_root_is_admin(daemon: DaemonProcess) -> None:
    """Root on the local socket lists namespaces without any certificate."""
    code, body = _unix_get(daemon.socket, "/api/v1/namespaces")
    assert code == 200, body
    names = {item["metadata"]["name"] for item in json.loads(body)["items"]}
    assert {"default", "kube-system", "kube-public"} <= names


def test_secrets_on_disk_are_owner_only(daemon: DaemonProcess) -> None:
    """Keys, the admin kubeconfig and the API socket are readable by their owner only."""
    for path in (daemon.pki / "ca.key", daemon.pki / "server.key", daemon.pki / "admin.key",
                 daemon.kubeconfig, daemon.socket):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert (daemon.data_dir / "state.db").exists()


def test_serving_certificate_names_the_local_addresses(daemon: DaemonProcess) -> None:
    """The serving certificate is valid for localhost, 127.0.0.1 and ::1."""
    from cryptography import x509
    cert = x509.load_pem_x509_certificate((daemon.pki / "server.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert {"127.0.0.1", "::1"} <= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
