"""GET /minikube13/v1/members: the gossip pool as this node sees it (`minikube13 members`).

The daemon passes a provider (the gossip node's members as JSON-ready dicts: name, addr,
port, status alive|suspect|failed|left, tags); the API itself knows nothing of gossip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

PATH = "/minikube13/v1/members"
MembersProvider = Callable[[], Sequence[Mapping[str, Any]]]


def add_members_route(app: web.Application, provider: MembersProvider) -> None:
    async def serve(request: web.Request) -> web.Response:
        members = [dict(m) for m in provider()]
        return web.json_response({"kind": "MemberList", "items": members})

    app.router.add_get(PATH, serve)
