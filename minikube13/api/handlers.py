"""The resource verbs: get, list, watch, create, update, patch, delete, deletecollection.

Each handler turns an HTTP request on a parsed `Route` into one registry call and the
registry's answer into a response; errors are `StatusError`s that the server's middleware
renders. Nothing here knows about storage.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from minikube13.api import codec, exchange, params, tables, watch
from minikube13.api.routes import Route, Target
from minikube13.model.kinds import ResourceInfo
from minikube13.registry import errors
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import WriteOptions
from minikube13.registry.user import UserInfo

log = logging.getLogger(__name__)

Doc = dict[str, Any]
Handler = Callable[[web.Request, Route], Awaitable[web.StreamResponse]]


def _dry_run_values(request: web.Request) -> list[str]:
    return request.query.getall("dryRun", [])


class ResourceHandlers:
    """The registry behind the Kubernetes REST verbs."""

    def __init__(self, registry: ObjectRegistry, *, max_body_bytes: int,
                 on_watch: Callable[[str, int], None] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.registry = registry
        self.max_body_bytes = max_body_bytes
        self.on_watch = on_watch or (lambda resource, delta: None)
        self.clock = clock
        self.verbs: dict[str, Handler] = {
            "get": self.get_object, "list": self.list_objects,
            "watch": self.watch_objects, "create": self.create_object,
            "update": self.update_object, "patch": self.patch_object,
            "delete": self.delete_object, "deletecollection": self.delete_collection,
        }

    async def serve(self, request: web.Request, route: Route, verb: str) -> web.StreamResponse:
        return await self.verbs[verb](request, route)

    # -- reads ----------------------------------------------------------------------------

    async def get_object(self, request: web.Request, route: Route) -> web.StreamResponse:
        info = _info(route)
        got = _negotiated(request)
        result = await self.registry.get(info, route.namespace, route.name, route.subresource)
        obj = result.object
        if got.transform is not None and not route.subresource:
            obj = tables.transform_object(info, obj, self.clock(), got.transform)
        return exchange.object_response(obj, media=got.media, warnings=result.warnings)

    async def list_objects(self, request: web.Request, route: Route) -> web.StreamResponse:
        info = _info(route)
        got = _negotiated(request)
        listed = await self.registry.list(info, route.namespace, params.list_options(
            request.query))
        if got.transform is not None:
            listed = tables.transform_list(info, listed, self.clock(), got.transform)
        return exchange.object_response(listed, media=got.media)

    async def watch_objects(self, request: web.Request, route: Route) -> web.StreamResponse:
        info = _info(route)
        got = _negotiated(request)
        opts = params.list_options(request.query, name=route.name)
        events = self.registry.watch(info, route.namespace, opts)
        render = self._event_renderer(info, got.transform)
        self.on_watch(info.plural, 1)
        try:
            return await watch.serve(request, events, render, opts.timeout_seconds)
        finally:
            self.on_watch(info.plural, -1)

    def _event_renderer(self, info: ResourceInfo, transform: tables.Transform | None
                        ) -> Callable[[Doc, bool], Doc]:
        def render(event: Doc, first: bool) -> Doc:
            if transform is None or event.get("type") in ("ERROR", "BOOKMARK"):
                return event
            obj = event.get("object") or {}
            if transform.kind == "Table":
                # Like the apiserver: column definitions once, in the first event only.
                obj = tables.transform_object(info, obj, self.clock(), transform,
                                              with_columns=first)
            else:
                obj = tables.partial(obj, transform.version)
            return {"type": event.get("type"), "object": obj}
        return render

    # -- writes ---------------------------------------------------------------------------

    async def create_object(self, request: web.Request, route: Route) -> web.StreamResponse:
        info = _info(route)
        body = await self._object_body(request)
        if not route.subresource:
            _check_namespace(route, body)
        result = await self.registry.create(
            info, route.namespace, body, self._write_options(request), route.subresource,
            route.name)
        return self._written(request, result.object, result.status_code, result.warnings)

    async def update_object(self, request: web.Request, route: Route) -> web.StreamResponse:
        info = _info(route)
        body = await self._object_body(request)
        _check_namespace(route, body)
        result = await self.registry.update(
            info, route.namespace, route.name, body, self._write_options(request),
            route.subresource)
        return self._written(request, result.object, result.status_code, result.warnings)

    async def patch_object(self, request: web.Request, route: Route) -> web.StreamResponse:
        info = _info(route)
        raw = await exchange.read_body(request, self.max_body_bytes)
        patch_type, patch = codec.decode_patch(raw, request.headers.get("Content-Type", ""))
        result = await self.registry.patch(
            info, route.namespace, route.name, patch_type, patch,
            self._write_options(request), route.subresource)
        return self._written(request, result.object, result.status_code, result.warnings)

    async def delete_object(self, request: web.Request, route: Route) -> web.StreamResponse:
        info = _info(route)
        opts = params.delete_options(request.query, _dry_run_values(request),
                                     await self._delete_body(request))
        result = await self.registry.delete(info, route.namespace, route.name, opts)
        return self._written(request, result.object, result.status_code, result.warnings)

    async def delete_collection(self, request: web.Request, route: Route) -> web.StreamResponse:
        info = _info(route)
        opts = params.delete_options(request.query, _dry_run_values(request),
                                     await self._delete_body(request))
        deleted = await self.registry.delete_collection(
            info, route.namespace, params.list_options(request.query), opts)
        return self._written(request, deleted, 200, [])

    # -- helpers --------------------------------------------------------------------------

    async def _object_body(self, request: web.Request) -> Doc:
        raw = await exchange.read_body(request, self.max_body_bytes)
        if not raw.strip():
            raise errors.bad_request("the request body is empty: an object is required")
        return codec.decode_object(raw, request.headers.get("Content-Type", ""))

    async def _delete_body(self, request: web.Request) -> Doc | None:
        """An optional DeleteOptions body (kubectl sends propagationPolicy in one)."""
        raw = await exchange.read_body(request, self.max_body_bytes)
        if not raw.strip():
            return None
        body = codec.decode_object(raw, request.headers.get("Content-Type", ""))
        kind = body.get("kind")
        if kind not in (None, "", "DeleteOptions"):
            raise errors.bad_request(f"the body of a delete must be DeleteOptions, not {kind}")
        return body

    def _write_options(self, request: web.Request) -> WriteOptions:
        user: UserInfo | None = request.get(exchange.USER)
        return params.write_options(request.query, _dry_run_values(request), user)

    def _written(self, request: web.Request, obj: Doc, status: int,
                 warnings: list[str]) -> web.StreamResponse:
        media = _negotiated(request).media
        return exchange.object_response(obj, status=status, media=media, warnings=warnings)


def _info(route: Route) -> ResourceInfo:
    assert route.info is not None and route.target in (
        Target.COLLECTION, Target.OBJECT, Target.SUBRESOURCE)
    return route.info


def _negotiated(request: web.Request) -> exchange.Negotiated:
    return exchange.negotiate(request.headers.get("Accept", ""),
                              params.include_object(request.query))


def _check_namespace(route: Route, body: Doc) -> None:
    """A namespaced object's body may repeat the URL's namespace, never name another."""
    meta = body.get("metadata")
    if not isinstance(meta, dict) or not route.namespace:
        return
    ns = meta.get("namespace")
    if ns and ns != route.namespace:
        raise errors.bad_request("the namespace of the provided object does not match the "
                                 "namespace sent on the request")
