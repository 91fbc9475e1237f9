"""Authentication over real TLS and a real Unix socket, with the daemon's own TLS context."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from minikube13.auth import pki, tls
from minikube13.auth.authn import authenticate


async def _whoami(request: web.Request) -> web.Response:
    user = authenticate(request)
    if user is None:
        return web.json_response({"user": None}, status=401)
    return web.json_response({"user": user.name, "groups": list(user.groups)})


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[pki.PkiPaths, int, Path]]:
    names = pki.serving_names("test-node", "127.0.0.1")
    paths = pki.ensure_pki(tmp_path / "pki", names)
    app = web.Application()
    app.router.add_get("/whoami", _whoami)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.server_ssl_context(paths))
    sock_path = tmp_path / "api.sock"
    await site.start()
    await web.UnixSite(runner, str(sock_path)).start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield paths, port, sock_path
    finally:
        await runner.cleanup()


def _client_ctx(paths: pki.PkiPaths, cert: Path | None = None,
                key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(paths.ca_cert))
    if cert and key:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


async def _get(url: str, ctx: ssl.SSLContext) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as s, s.get(url, ssl=ctx) as r:
        return r.status, await r.json()


async def test_admin_client_certificate_is_system_masters(server) -> None:  # type: ignore[no-untyped-def]
    """The admin certificate from admin.kubeconfig authenticates as admin/system:masters."""
    paths, port, _ = server
    ctx = _client_ctx(paths, paths.admin_cert, paths.admin_key)
    status, body = await _get(f"https://127.0.0.1:{port}/whoami", ctx)
    assert status == 200
    assert body["user"] == "admin"
    assert "system:masters" in body["groups"]  # type: ignore[operator]


async def test_no_client_certificate_is_anonymous(server) -> None:  # type: ignore[no-untyped-def]
    """TLS without a client certificate connects, but the request has no user."""
    paths, port, _ = server
    status, body = await _get(f"https://127.0.0.1:{port}/whoami", _client_ctx(paths))
    assert (status, body["user"]) == (401, None)


async def test_certificate_from_another_ca_is_refused(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A client certificate signed by a different CA fails the TLS handshake."""
    paths, port, _ = server
    other = pki.ensure_pki(tmp_path / "other-pki", pki.serving_names("x", "127.0.0.1"))
    ctx = _client_ctx(paths, other.admin_cert, other.admin_key)
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        await _get(f"https://127.0.0.1:{port}/whoami", ctx)


async def test_unix_socket_peer_root_is_admin(server) -> None:  # type: ignore[no-untyped-def]
    """A root process on the local socket is the admin, by its kernel credentials."""
    _, _, sock_path = server
    connector = aiohttp.UnixConnector(path=str(sock_path))
    async with aiohttp.ClientSession(connector=connector) as s, \
            s.get("http://localhost/whoami") as r:
        body = await r.json()
    assert body["user"] == "admin"
    assert "system:masters" in body["groups"]


def test_tls_context_refuses_tls_1_1(server) -> None:  # type: ignore[no-untyped-def]
    """The listener speaks TLS 1.2 and later only."""
    paths, _, _ = server
    assert tls.server_ssl_context(paths).minimum_version == ssl.TLSVersion.TLSv1_2
