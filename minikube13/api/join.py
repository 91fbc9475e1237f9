"""GET /cacerts and POST /minikube13/v1/join: how a node joins (k3s's shape).

/cacerts is open: the joining node fetches the CA without verification and trusts it only
when its sha256 matches the hash in its join token. The join itself takes a bootstrap token
(`Authorization: Bearer <id>.<secret>`) and nothing else; the daemon passes the backend
(cluster/server.py JoinService), so the API knows nothing of certificates or gossip.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from aiohttp import web

from minikube13.api import exchange
from minikube13.auth.authn import BOOTSTRAPPERS
from minikube13.registry import errors
from minikube13.registry.user import UserInfo

CACERTS_PATH = "/cacerts"
JOIN_PATH = "/minikube13/v1/join"
OPEN_PATHS = frozenset({CACERTS_PATH})
BOOTSTRAP_PATHS = frozenset({CACERTS_PATH, JOIN_PATH})  # all a bootstrap token may reach
MAX_CSR_BYTES = 16 * 1024

_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class JoinBackend(Protocol):
    def ca_pem(self) -> bytes: ...

    async def join(self, node_name: str, csr_pem: str, user: UserInfo,
                   local_host: str) -> dict[str, Any]: ...


def add_join_routes(app: web.Application, backend: JoinBackend) -> None:
    async def cacerts(request: web.Request) -> web.Response:
        return web.Response(body=backend.ca_pem(), content_type="application/x-pem-file")

    async def join(request: web.Request) -> web.Response:
        user: UserInfo | None = request.get(exchange.USER)
        if user is None or BOOTSTRAPPERS not in user.groups:
            raise errors.forbidden("joining takes a bootstrap token "
                                   "(Authorization: Bearer <id>.<secret>)")
        node_name, csr = await _join_request(request)
        answer = await backend.join(node_name, csr, user, _local_host(request))
        return web.json_response(answer)

    app.router.add_get(CACERTS_PATH, cacerts)
    app.router.add_post(JOIN_PATH, join)


async def _join_request(request: web.Request) -> tuple[str, str]:
    if request.content_length is not None and request.content_length > MAX_CSR_BYTES:
        raise errors.too_large()
    try:
        body = await request.json()
    except ValueError:
        raise errors.bad_request("the join request must be a JSON object") from None
    if not isinstance(body, dict):
        raise errors.bad_request("the join request must be a JSON object")
    node_name, csr = body.get("nodeName"), body.get("csr")
    if not isinstance(node_name, str) or len(node_name) > 253 or \
            not _NODE_NAME.match(node_name):
        raise errors.bad_request("nodeName: must be a valid node name (lower-case letters, "
                                 "digits, '-' and '.')")
    if not isinstance(csr, str) or "CERTIFICATE REQUEST" not in csr:
        raise errors.bad_request("csr: must be a PEM certificate signing request")
    return node_name, csr


def _local_host(request: web.Request) -> str:
    """The address the node reached us at (where a TCP listener on 0.0.0.0 was hit)."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if isinstance(sockname, tuple) and sockname:
        return str(sockname[0])
    return "127.0.0.1"
