"""The Kubernetes HTTP API as an aiohttp application: `build_app()`.

Request flow: the status middleware (every failure becomes a Status, every request is
counted) -> the authentication middleware (401 unless `authenticate` names a user; the
health and version endpoints are open) -> `dispatch`, which parses the path and hands it to
discovery, OpenAPI, metrics or the resource handlers. With `pod_streams`, pods/log, pods/exec
and pods/attach have a route of their own ahead of `dispatch` (pod_streams.py). TLS and
listening are the daemon's.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from minikube13.api import audit, codec, discovery, exchange, health, params, routes
from minikube13.api.documents import OpenAPIDocuments
from minikube13.api.handlers import ResourceHandlers
from minikube13.api.join import BOOTSTRAP_PATHS, JoinBackend, add_join_routes
from minikube13.api.join import OPEN_PATHS as JOIN_OPEN_PATHS
from minikube13.api.members import MembersProvider, add_members_route
from minikube13.api.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from minikube13.api.metrics import APIMetrics
from minikube13.api.node_proxy import NodeProxy
from minikube13.api.pod_streams import PATH as pod_streams_path
from minikube13.api.pod_streams import PodStreamHandlers
from minikube13.api.routes import Route, Target
from minikube13.auth.authn import BOOTSTRAPPERS
from minikube13.registry import errors
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.user import UserInfo
from minikube13.runtime.streams import PodStreams

log = logging.getLogger(__name__)

# sync (certificates, the socket's peer) or async (bearer tokens looked up in the store)
Authenticate = Callable[[web.BaseRequest], UserInfo | None | Awaitable[UserInfo | None]]
StoreStats = Callable[[], Awaitable[dict[str, int]]]
HandlerFn = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The apiserver's names for verbs in apiserver_request_total.
_METRIC_VERBS = {"get": "GET", "list": "LIST", "watch": "WATCH", "create": "POST",
                 "update": "PUT", "patch": "PATCH", "delete": "DELETE",
                 "deletecollection": "DELETECOLLECTION"}
_HTTP_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                 405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict",
                 413: "RequestEntityTooLarge", 415: "UnsupportedMediaType",
                 429: "TooManyRequests", 503: "ServiceUnavailable"}


class APIServer:
    """The application's handlers and the state they share."""

    def __init__(self, registry: ObjectRegistry, authenticate: Authenticate,
                 store_stats: StoreStats | None, max_body_bytes: int):
        self.authenticate = authenticate
        self.open_paths = set(health.OPEN_PATHS)  # served without a user
        self.store_stats = store_stats
        self.metrics = APIMetrics()
        self.health = health.HealthEndpoints(registry)
        self.openapi = OpenAPIDocuments()
        self.resources = ResourceHandlers(registry, max_body_bytes=max_body_bytes,
                                          on_watch=self._count_watch)

    def _count_watch(self, resource: str, delta: int) -> None:
        if delta > 0:
            self.metrics.watch_started(resource)
        else:
            self.metrics.watch_ended(resource)

    @web.middleware
    async def status_middleware(self, request: web.Request, handler: HandlerFn
                                ) -> web.StreamResponse:
        start = time.monotonic()
        code = 500
        try:
            resp = await handler(request)
            code = resp.status
            return resp
        except StatusError as e:
            code = e.code
            return exchange.status_response(e)
        except web.HTTPException as e:  # aiohttp's own (bad request line and the like)
            code = e.status
            return exchange.status_response(StatusError(
                e.status, _HTTP_REASONS.get(e.status, "Unknown"), e.reason))
        except Exception as e:
            log.exception("request failed method=%s path=%s", request.method, request.path)
            return exchange.status_response(errors.internal(
                f"Internal error occurred: {type(e).__name__}"))
        finally:
            self.metrics.observe(request.get(exchange.VERB, request.method),
                                 request.get(exchange.RESOURCE, ""), code, time.monotonic() - start)
            _audit(request, code)

    @web.middleware
    async def auth_middleware(self, request: web.Request, handler: HandlerFn
                              ) -> web.StreamResponse:
        if request.path not in self.open_paths:
            found = self.authenticate(request)
            user = await found if inspect.isawaitable(found) else found
            if user is None:
                raise errors.unauthorized()
            if BOOTSTRAPPERS in user.groups and request.path not in BOOTSTRAP_PATHS:
                # no RBAC yet: a bootstrap token is good for joining and nothing else
                raise errors.forbidden(f'User "{user.name}" may only join nodes')
            request[exchange.USER] = user
        return await handler(request)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path in health.OPEN_PATHS:
            return await self._health(request)
        if path == "/metrics":
            return await self.serve_metrics(request)
        if path == "/openapi/v2" or path.startswith("/openapi/"):
            _only_get(request)
            return self.openapi.serve(request)
        route = routes.parse(path)
        if route is None:
            raise exchange.not_found_path()
        verb = routes.verb_for(route, request.method, params.is_watch(request.query))
        if verb is None:
            raise errors.method_not_allowed()
        if route.info is None:
            return self.serve_discovery(request, route)
        request[exchange.VERB] = _METRIC_VERBS[verb]
        request[exchange.RESOURCE] = route.info.plural
        target = audit.target_for(verb, route.info.plural, route.subresource, route.namespace,
                                  route.name)
        if target is not None:
            request[audit.TARGET] = target
        return await self.resources.serve(request, route, verb)

    async def _health(self, request: web.Request) -> web.StreamResponse:
        _only_get(request)
        endpoints = {"/healthz": self.health.alive, "/livez": self.health.alive,
                     "/readyz": self.health.ready, "/version": self.health.version}
        return await endpoints[request.path](request)

    async def serve_metrics(self, request: web.Request) -> web.StreamResponse:
        _only_get(request)
        stats = await self.store_stats() if self.store_stats is not None else None
        return web.Response(body=self.metrics.render(stats).encode(),
                            headers={"Content-Type": METRICS_CONTENT_TYPE})

    def serve_discovery(self, request: web.Request, route: Route) -> web.StreamResponse:
        accept = request.headers.get("Accept", "")
        if route.target in (Target.API_VERSIONS, Target.GROUP_LIST):
            aggregated = _aggregated_version(accept)
            if aggregated is not None:
                doc = discovery.aggregated(route.target is Target.API_VERSIONS,
                                           f"apidiscovery.k8s.io/{aggregated}")
                resp = exchange.object_response(doc)
                resp.headers["Content-Type"] = (
                    discovery.AGGREGATED_V2 if aggregated == "v2"
                    else discovery.AGGREGATED_V2BETA1)
                resp.headers["Vary"] = "Accept"
                return resp
        if route.target is Target.API_VERSIONS:
            doc = discovery.api_versions(request.host)
        elif route.target is Target.GROUP_LIST:
            doc = discovery.api_group_list()
        elif route.target is Target.GROUP:
            doc = discovery.api_group(route.group)
        else:
            doc = discovery.api_resource_list(route.group, route.version)
        resp = exchange.object_response(doc)
        resp.headers["Vary"] = "Accept"
        return resp


def _aggregated_version(accept: str) -> str | None:
    """"v2" or "v2beta1" when the client asked for aggregated discovery first-choice."""
    for entry in codec.parse_accept(accept):
        as_kind, group, version = entry.transform
        if (as_kind, group) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io") and \
                version in ("v2", "v2beta1"):
            return version
        if entry.full in (codec.JSON, "*/*", "application/*") and not as_kind:
            return None
    return None


def _audit(request: web.Request, code: int) -> None:
    """One audit record for a mutating request, whatever its outcome."""
    target = request.get(audit.TARGET)
    if target is None:
        return
    user = request.get(exchange.USER)
    audit.emit(audit.AuditRecord(user.name if user is not None else "system:anonymous",
                                 target, code))


def _only_get(request: web.Request) -> None:
    if request.method not in ("GET", "HEAD"):
        raise errors.method_not_allowed()


def build_app(registry: ObjectRegistry, *,
              authenticate: Authenticate,
              store_stats: StoreStats | None = None,
              max_body_bytes: int = 3 * 1024 * 1024,
              pod_streams: PodStreams | None = None,
              node_proxy: NodeProxy | None = None,
              members: MembersProvider | None = None,
              join: JoinBackend | None = None) -> web.Application:
    """The Kubernetes API over `registry`; the caller listens (TCP+TLS, Unix socket).
    With `pod_streams`, pods/log, pods/exec and pods/attach serve this node's containers
    (and, with `node_proxy`, are passed on to the node of a pod that runs elsewhere);
    with `members`, GET /minikube13/v1/members lists the gossip pool; with `join`, GET
    /cacerts (open) and POST /minikube13/v1/join (bootstrap tokens) let nodes join."""
    server = APIServer(registry, authenticate, store_stats, max_body_bytes)
    app = web.Application(middlewares=[server.status_middleware, server.auth_middleware],
                          client_max_size=max_body_bytes)
    if pod_streams is not None:
        streams = PodStreamHandlers(registry, pod_streams, node_proxy)
        app.router.add_route("*", pod_streams_path, streams.serve)
    if members is not None:
        add_members_route(app, members)
    if join is not None:
        server.open_paths |= JOIN_OPEN_PATHS
        add_join_routes(app, join)
    app.router.add_route("*", "/{tail:.*}", server.dispatch)
    return app
