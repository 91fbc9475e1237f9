"""Serving the OpenAPI documents: built once per process, addressed by content hash.

Our schemas are published in v3 only. /openapi/v2 is an empty (but valid) Swagger 2.0
document: kubectl validates a kind that v3 does not describe against v2, in protobuf, and a
404 there makes it fail with "failed to download openapi" instead of going on to report
"no matches for kind", as it does against a real apiserver.
"""

from __future__ import annotations

import logging

from aiohttp import web

from minikube13 import KUBERNETES_GIT_VERSION
from minikube13.api import codec, exchange, openapi

log = logging.getLogger(__name__)


class OpenAPIDocuments:
    """The encoded v3 documents and their hashes, computed on first request."""

    def __init__(self) -> None:
        self._bodies: dict[str, bytes] | None = None
        self._hashes: dict[str, str] = {}

    def _built(self) -> dict[str, bytes]:
        if self._bodies is None:
            bodies = {}
            for group, version in openapi.all_group_versions():
                path = openapi.gv_path(group, version)
                bodies[path] = openapi.encode(openapi.document(group, version))
                self._hashes[path] = openapi.content_hash(bodies[path])
            self._bodies = bodies
            log.info("openapi documents built count=%d", len(bodies))
        return self._bodies

    def serve(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/")
        if path == "/openapi/v2":
            return _swagger_v2(request.headers.get("Accept", ""))
        if path == "/openapi/v3":
            self._built()
            return exchange.object_response(openapi.index(self._hashes))
        prefix = "/openapi/v3/"
        body = self._built().get(path[len(prefix):]) if path.startswith(prefix) else None
        if body is None:
            raise exchange.not_found_path()
        digest = self._hashes[path[len(prefix):]]
        headers = {"Content-Type": "application/json", "ETag": f'"{digest}"'}
        if request.query.get("hash") == digest:
            # Addressed by content: may be cached for good.
            headers["Cache-Control"] = "public, immutable"
        else:
            headers["Cache-Control"] = "no-cache, private"
        if request.headers.get("If-None-Match") == f'"{digest}"':
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers=headers)


# Clients ask with "...spec.v2@v1.0+protobuf" but cannot parse an "@" in a Content-Type
# (Go's mime package refuses it), so the answer names the dotted spelling, as kube-openapi does.
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _swagger_v2(accept: str) -> web.Response:
    """An empty Swagger 2.0 document, as gnostic protobuf when asked, else JSON."""
    title, version = b"Kubernetes", KUBERNETES_GIT_VERSION.encode()
    if any(e.full.startswith("application/com.github.proto-openapi.spec.v2")
           for e in codec.parse_accept(accept)):
        # openapi.v2.Document{swagger: "2.0" (1), info: Info{title (1), version (2)} (2)}
        info = bytes([0x0A, len(title)]) + title + bytes([0x12, len(version)]) + version
        body = bytes([0x0A, 3]) + b"2.0" + bytes([0x12, len(info)]) + info
        return web.Response(body=body, headers={"Content-Type": V2_PROTOBUF})
    return exchange.object_response({"swagger": "2.0", "info": {
        "title": title.decode(), "version": version.decode()}, "paths": {}, "definitions": {}})
