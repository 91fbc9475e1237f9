"""The registry the node agent gets on an agent node.

Reads of kept kinds (its pods, their secrets and config maps, Nodes, ...) come from the
local copy, so the node agent works the same online and cut off. Writes go to a live server,
and the server's answer is written into the copy at once (read-your-writes for the node
agent; the mirror's watch brings the same version later and finds nothing to do). While cut
off, writes of kept kinds (pod status, the Node) are applied to the copy only, so the agent
keeps going; the relist after the link returns replaces them with the servers' objects,
and the node agent reports again what differs. Kinds not kept (Events, Leases) are
forwarded while online and refused (503) while cut off: their writers retry or drop them.

Versions: the node agent pins local revisions; a pin is sent as the servers' version the
copy recorded for that revision (policy.translate_pin), or refused (409) when stale.
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

from minikube13.cluster import policy
from minikube13.cluster.copy import LocalCopy
from minikube13.cluster.upstream import Reply, Unreachable, Upstream
from minikube13.model.kinds import ResourceInfo
from minikube13.registry import metadata as md
from minikube13.registry.errors import StatusError, conflict, unavailable
from minikube13.registry.objects import STALE, ObjectRegistry
from minikube13.registry.options import DeleteOptions, ListOptions, Result, WriteOptions
from minikube13.store.interface import Store

log = logging.getLogger(__name__)

Object = dict[str, Any]


def object_path(info: ResourceInfo, namespace: str = "", name: str = "",
                subresource: str = "") -> str:
    base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    parts = [base]
    if info.namespaced and namespace:
        parts += ["namespaces", quote(namespace, safe="")]
    parts.append(info.plural)
    if name:
        parts.append(quote(name, safe=""))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


def write_query(opts: WriteOptions) -> dict[str, str]:
    query = {"fieldValidation": opts.field_validation}
    if opts.dry_run:
        query["dryRun"] = "All"
    if opts.field_manager:
        query["fieldManager"] = opts.field_manager
    return query


def list_query(opts: ListOptions) -> dict[str, str]:
    pairs = {"labelSelector": opts.label_selector, "fieldSelector": opts.field_selector,
             "limit": str(opts.limit) if opts.limit else "", "continue": opts.continue_token,
             "resourceVersion": opts.resource_version}
    return {k: v for k, v in pairs.items() if v}


def delete_body(opts: DeleteOptions) -> Object:
    body: Object = {"apiVersion": "v1", "kind": "DeleteOptions"}
    if opts.grace_period_seconds is not None:
        body["gracePeriodSeconds"] = opts.grace_period_seconds
    if opts.propagation_policy:
        body["propagationPolicy"] = opts.propagation_policy
    if opts.orphan_dependents is not None:
        body["orphanDependents"] = opts.orphan_dependents
    preconditions = {k: v for k, v in (("uid", opts.precondition_uid),
                                       ("resourceVersion", opts.precondition_resource_version))
                     if v}
    if preconditions:
        body["preconditions"] = preconditions
    if opts.dry_run:
        body["dryRun"] = ["All"]
    return body


def status_error(reply: Reply) -> StatusError:
    try:
        doc = reply.json()
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        return StatusError(reply.status, str(doc.get("reason") or ""),
                           str(doc.get("message") or ""), doc.get("details"))
    return StatusError(reply.status, "InternalError",
                       f"the server answered {reply.status}: {reply.body[:200]!r}")


class AgentRegistry(ObjectRegistry):
    def __init__(self, store: Store, upstream: Upstream, copy: LocalCopy):
        super().__init__(store)
        self.upstream = upstream
        self.copy = copy

    @staticmethod
    def _kept(info: ResourceInfo) -> bool:
        return info.storage in policy.KEPT_STORAGES

    def _offline_refusal(self, info: ResourceInfo, verb: str) -> StatusError:
        return unavailable(policy.unavailable_message(info.plural, verb))

    async def _send(self, info: ResourceInfo, verb: str, method: str, path: str,
                    query: dict[str, str] | None = None, body: Any = None,
                    content_type: str = "application/json") -> Reply:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "Content-Type": content_type}
        full = path + ("?" + urlencode(query) if query else "")
        try:
            reply = await self.upstream.request(method, full, body=data, headers=headers)
        except Unreachable as e:
            log.info("write not forwarded resource=%s error=%s", info.plural, e)
            raise self._offline_refusal(info, verb) from None
        if reply.status >= 400:
            raise status_error(reply)
        return reply

    async def _answer(self, info: ResourceInfo, reply: Reply, namespace: str,
                      name: str) -> Result:
        """The server's answer to a write, written into the copy and returned as the copy
        holds it (local version), for kept kinds."""
        obj = reply.json()
        if not self._kept(info) or not isinstance(obj, dict) or obj.get("kind") != info.kind:
            return Result(obj, [], reply.status)
        await self.copy.put(info, obj)
        name = name or str((obj.get("metadata") or {}).get("name") or "")
        try:
            local = await super().get(info, namespace, name)
        except StatusError:
            return Result(obj, [], reply.status)
        return Result(local.object, [], reply.status)

    # -- reads -----------------------------------------------------------------------------

    async def get(self, info: ResourceInfo, namespace: str, name: str,
                  subresource: str = "") -> Result:
        if self._kept(info):
            return await super().get(info, namespace, name, subresource)
        if not self.upstream.online:
            raise self._offline_refusal(info, "get")
        reply = await self._send(info, "get", "GET", object_path(info, namespace, name,
                                                                  subresource))
        return Result(reply.json(), [])

    async def list(self, info: ResourceInfo, namespace: str, opts: ListOptions) -> Object:
        if self._kept(info):
            return await super().list(info, namespace, opts)
        if not self.upstream.online:
            raise self._offline_refusal(info, "list")
        reply = await self._send(info, "list", "GET", object_path(info, namespace),
                                 list_query(opts))
        doc: Object = reply.json()
        return doc

    def watch(self, info: ResourceInfo, namespace: str,
              opts: ListOptions) -> AsyncIterator[Object]:
        if self._kept(info):
            return super().watch(info, namespace, opts)
        raise unavailable(f"an agent's node agent watches only what its copy keeps, not "
                          f"{info.plural}")

    # -- writes ----------------------------------------------------------------------------

    async def create(self, info: ResourceInfo, namespace: str, obj: Object, opts: WriteOptions,
                     subresource: str = "", name: str = "") -> Result:
        if not self.upstream.online:
            if not self._kept(info):
                raise self._offline_refusal(info, "create")
            return await super().create(info, namespace, obj, opts, subresource, name)
        path = object_path(info, namespace, name if subresource else "", subresource)
        reply = await self._send(info, "create", "POST", path, write_query(opts),
                                 policy.unstamped(obj))
        if subresource:
            return Result(reply.json(), [], reply.status)
        return await self._answer(info, reply, namespace, "")

    async def update(self, info: ResourceInfo, namespace: str, name: str, obj: Object,
                     opts: WriteOptions, subresource: str = "") -> Result:
        if not self.upstream.online:
            if not self._kept(info):
                raise self._offline_refusal(info, "update")
            return await super().update(info, namespace, name, obj, opts, subresource)
        body = policy.unstamped(obj)
        if self._kept(info):
            body = await self._with_upstream_pin(info, namespace, name, body)
        reply = await self._send(info, "update", "PUT",
                                 object_path(info, namespace, name, subresource),
                                 write_query(opts), body)
        return await self._answer(info, reply, namespace, name)

    async def _with_upstream_pin(self, info: ResourceInfo, namespace: str, name: str,
                                 body: Object) -> Object:
        meta = dict(body.get("metadata") or {})
        pinned = str(meta.get("resourceVersion") or "")
        if not pinned:
            return body
        kv = await self.store.get(md.key(info, namespace, name))
        rv = policy.translate_pin(pinned, kv.mod_revision if kv else None,
                                  md.decode(kv) if kv else None)
        if rv is None:
            raise conflict(info.group, info.plural, name, STALE)
        if rv:
            meta["resourceVersion"] = rv
        else:
            meta.pop("resourceVersion", None)
        return dict(body, metadata=meta)

    async def patch(self, info: ResourceInfo, namespace: str, name: str, patch_type: str,
                    patch: Any, opts: WriteOptions, subresource: str = "") -> Result:
        if not self.upstream.online:
            if not self._kept(info):
                raise self._offline_refusal(info, "patch")
            return await super().patch(info, namespace, name, patch_type, patch, opts,
                                       subresource)
        reply = await self._send(info, "patch", "PATCH",
                                 object_path(info, namespace, name, subresource),
                                 write_query(opts), patch, content_type=patch_type)
        return await self._answer(info, reply, namespace, name)

    async def delete(self, info: ResourceInfo, namespace: str, name: str,
                     opts: DeleteOptions) -> Result:
        if not self.upstream.online:
            if not self._kept(info):
                raise self._offline_refusal(info, "delete")
            return await super().delete(info, namespace, name, opts)
        reply = await self._send(info, "delete", "DELETE", object_path(info, namespace, name),
                                 None, delete_body(opts))
        obj = reply.json()
        if self._kept(info) and isinstance(obj, dict) and obj.get("kind") == info.kind:
            if reply.status == 200:
                await self.copy.drop(info, obj)
            else:
                await self.copy.put(info, obj)
        return Result(obj, [], reply.status)

    async def delete_collection(self, info: ResourceInfo, namespace: str,
                                list_opts: ListOptions, opts: DeleteOptions) -> Object:
        items: builtins.list[Object] = []
        listed = await self.list(info, namespace, list_opts)
        for item in listed.get("items") or []:
            meta = item.get("metadata") or {}
            try:
                items.append((await self.delete(info, meta.get("namespace") or "",
                                                meta.get("name") or "", opts)).object)
            except StatusError as err:
                if err.code != 404:
                    raise
        return {"apiVersion": info.api_version, "kind": info.list_kind,
                "metadata": dict(listed.get("metadata") or {}), "items": items}
