"""Fixtures for the image e2e tests: a real Debian `docker-registry` on 127.0.0.1 (anonymous,
htpasswd Basic, or Bearer tokens from a tiny token server in the test), images pushed into it
with `skopeo`, and the busybox layout that rootfs/busybox/build.py makes."""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import http.server
import importlib.util
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_RECIPE = REPO_ROOT / "rootfs" / "busybox" / "build.py"
ISSUER, SERVICE = "m13-test-issuer", "m13-test-registry"
USER, PASSWORD = "alice", "s3cret"


def build_busybox(out: Path) -> str:
    """Build the busybox OCI layout with the real recipe; returns the manifest digest."""
    spec = importlib.util.spec_from_file_location("busybox_build", BUILD_RECIPE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.build(out))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def skopeo_push(source: str, registry: str, repo: str, *extra: str) -> None:
    """`skopeo copy <source> docker://<registry>/<repo>` over plain http."""
    cmd = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", *extra, source,
           f"docker://{registry}/{repo}"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


@dataclass
class Registry:
    """A running docker-registry; `stop()` kills it and waits."""

    host: str
    data: Path
    proc: subprocess.Popen[bytes]
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def blob_file(self, digest: str) -> Path:
        hexd = digest.split(":", 1)[1]
        return self.data / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _config(tmp: Path, port: int, auth: dict[str, Any] | None) -> Path:
    config = {"version": 0.1, "log": {"level": "warn"},
              "storage": {"filesystem": {"rootdirectory": str(tmp / "data")},
                          "delete": {"enabled": True}},
              "http": {"addr": f"127.0.0.1:{port}", "secret": "m13-test"}}
    if auth:
        config["auth"] = auth
    path = tmp / "config.yml"
    path.write_text(json.dumps(config))  # YAML is a superset of JSON
    return path


@contextlib.contextmanager
def run_registry(tmp: Path, auth: dict[str, Any] | None = None) -> Iterator[Registry]:
    """Start `docker-registry serve` on a free loopback port; stopped on exit."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}",
           "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp / "data")}
    log = (tmp / "registry.log").open("wb")
    proc = subprocess.Popen(["docker-registry", "serve", str(_config(tmp, port, auth))],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    registry = Registry(host=f"127.0.0.1:{port}", data=tmp / "data", proc=proc)
    try:
        _wait_ready(registry, tmp / "registry.log")
        yield registry
    finally:
        registry.stop()
        log.close()


def _wait_ready(registry: Registry, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if registry.proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # 401: up, and asking for credentials
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("docker-registry did not come up in 15 s")


def htpasswd_auth(tmp: Path) -> dict[str, Any]:
    """An htpasswd (bcrypt) file for alice, as docker-registry's Basic auth wants."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))  # cost 4: fast
    path = tmp / "htpasswd"
    path.write_text(f"{USER}:{hashed}\n")
    return {"htpasswd": {"realm": "m13-test", "path": str(path)}}


# ---- Bearer tokens: a token server the registry trusts through its rootcertbundle


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(key: rsa.RSAPublicKey) -> str:
    """docker/libtrust's key id: base32 of the first 30 bytes of sha256(DER), in 4s."""
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


class TokenServer:
    """Issues RS256 JWTs for docker-registry to alice (Basic credentials on the request)."""

    def __init__(self, tmp: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.bundle = tmp / "token-ca.pem"
        self.bundle.write_bytes(self._certificate().public_bytes(serialization.Encoding.PEM))
        self.requests: list[dict[str, str]] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def auth_config(self) -> dict[str, Any]:
        return {"token": {"realm": self.realm, "service": SERVICE, "issuer": ISSUER,
                          "rootcertbundle": str(self.bundle)}}

    def __enter__(self) -> TokenServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def _certificate(self) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "m13 test token issuer")])
        now = datetime.datetime.now(datetime.UTC)
        return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))

    def token(self, scope: str) -> str:
        access = []
        if scope.startswith("repository:"):
            _, name, actions = scope.split(":", 2)
            access.append({"type": "repository", "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256",
                  "kid": libtrust_key_id(self.key.public_key())}
        claims = {"iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}." \
                        f"{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        outer = self
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                outer.requests.append({**query, "authorization": self.headers.get(
                    "Authorization", "")})
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": outer.token(query.get("scope", ""))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
