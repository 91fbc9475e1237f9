"""Shared by the test_api_* modules: build_app() served on loopback from a thread of its own.

The server runs its own event loop in a background thread so tests can drive it with
blocking clients (the real kubectl as a subprocess, http.client) the way a user would.
It sits on the real ObjectRegistry over the in-memory store.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from minikube13.api.server import build_app
from minikube13.registry.user import MASTERS, UserInfo

KUBECTL = "/usr/bin/kubectl"
ADMIN = UserInfo("admin", (MASTERS,))
BOOT_NAMESPACES = ("default", "kube-system", "kube-public")


def admin(request: web.BaseRequest) -> UserInfo | None:
    return ADMIN


async def _registry() -> tuple[Any, Any]:
    from minikube13.registry.objects import ObjectRegistry
    from minikube13.testing.memory_store import MemoryStore

    store = MemoryStore()
    await store.start()
    registry = ObjectRegistry(store)
    for name in BOOT_NAMESPACES:
        await registry.ensure_namespace(name)
    return registry, store


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class APIServerThread:
    """build_app() over plain HTTP on 127.0.0.1 in a thread; stop() leaves nothing behind."""

    def __init__(self, tmp: Path, authenticate: Callable[[web.BaseRequest], UserInfo | None]
                 = admin, max_body_bytes: int = 3 * 1024 * 1024):
        self.tmp = tmp
        self.authenticate = authenticate
        self.max_body_bytes = max_body_bytes
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0
        self.runner: web.AppRunner | None = None
        self.registry: Any = None
        self.store: Any = None

    def run(self, coro: Any, timeout: float = 30) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.run(self._start())
        self.kubeconfig = self.tmp / "kubeconfig"
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "t",
            "clusters": [{"name": "t", "cluster": {"server": self.url}}],
            "users": [{"name": "t", "user": {}}],
            "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t",
                                                    "namespace": "default"}}],
        }))

    async def _start(self) -> None:
        self.registry, self.store = await _registry()
        app = build_app(self.registry, authenticate=self.authenticate,
                        store_stats=self.store.stats, max_body_bytes=self.max_body_bytes)
        self.runner = web.AppRunner(app, shutdown_timeout=2)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    def stop(self) -> None:
        if self.runner is not None:
            self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def open_tasks(self) -> int:
        """Tasks still alive in the server's loop (besides the one asking)."""
        async def count() -> int:
            return len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])
        return int(self.run(count()))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- clients --------------------------------------------------------------------------

    def http(self, method: str, path: str, body: bytes | str | dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, timeout: float = 30) -> Reply:
        hdrs = dict(headers or {})
        if isinstance(body, dict):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return Reply(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [KUBECTL, "--kubeconfig", str(self.kubeconfig),
               "--cache-dir", str(self.tmp / "kube-cache"), *args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        res = subprocess.run(cmd, input=input, capture_output=True, text=True,
                             timeout=timeout, env=env)
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({res.returncode}):\n"
                                 f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}")
        return res


def serve(tmp: Path, **kwargs: Any) -> Iterator[APIServerThread]:
    server = APIServerThread(tmp, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerThread]:
    """One API server per test module (tests use their own object names)."""
    yield from serve(tmp_path_factory.mktemp("api"))
