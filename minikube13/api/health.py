"""/healthz, /livez, /readyz and /version: the endpoints anyone may read without a login."""

from __future__ import annotations

import logging
import platform

from aiohttp import web

from minikube13 import KUBERNETES_GIT_VERSION
from minikube13.api import exchange
from minikube13.model import kinds
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})
# Ready means: the store answers and the namespaces every cluster starts with exist.
REQUIRED_NAMESPACES = ("default", "kube-system", "kube-public")


def version_info() -> dict[str, str]:
    """What `kubectl version` shows for the server (it only warns about the skew)."""
    major, minor = _major_minor(KUBERNETES_GIT_VERSION)
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(),
                                                          platform.machine())
    return {
        "major": major, "minor": minor, "gitVersion": KUBERNETES_GIT_VERSION,
        "gitCommit": "", "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "python" + platform.python_version(), "compiler": "cpython",
        "platform": f"linux/{machine}",
    }


def _major_minor(git_version: str) -> tuple[str, str]:
    parts = git_version.lstrip("v").split("-")[0].split(".")
    return parts[0], parts[1] if len(parts) > 1 else "0"


class HealthEndpoints:
    def __init__(self, registry: ObjectRegistry):
        self.registry = registry

    async def alive(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    async def version(self, request: web.Request) -> web.StreamResponse:
        return exchange.object_response(version_info())

    async def ready(self, request: web.Request) -> web.StreamResponse:
        missing = await self._missing_namespaces()
        if missing is None:
            return web.Response(text="ok")
        log.info("not ready missing=%s", missing)
        lines = ["[+]ping ok", f"[-]namespaces failed: missing {missing}",
                 "readyz check failed"]
        return web.Response(status=500, text="\n".join(lines) + "\n")

    async def _missing_namespaces(self) -> str | None:
        info = kinds.find("", "v1", "namespaces")
        assert info is not None
        missing = []
        for name in REQUIRED_NAMESPACES:
            try:
                await self.registry.get(info, "", name)
            except StatusError:
                missing.append(name)
        return ",".join(missing) if missing else None
