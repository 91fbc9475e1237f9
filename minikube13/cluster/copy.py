"""The agent's local copy: objects from the servers written into the local store as they
are (same uid, creationTimestamp, everything), stamped with the servers' resourceVersion
(policy.stamped). Writes go straight to the store, not through the registry, which would
give them a new uid and timestamps; each is a compare-and-swap against what the copy holds,
so a node agent writing the same object at once never loses its write silently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from minikube13.cluster import policy
from minikube13.model.kinds import ResourceInfo
from minikube13.registry import facade
from minikube13.registry import metadata as md
from minikube13.store.interface import Conflict, KeyExists, KeyNotFound, Store

log = logging.getLogger(__name__)

Object = dict[str, Any]
RETRIES = 10


def _name(obj: Object) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class LocalCopy:
    def __init__(self, store: Store):
        self.store = store

    def _stored_form(self, info: ResourceInfo, served: Object) -> tuple[str, Object]:
        obj = dict(served)
        obj.setdefault("apiVersion", info.api_version)
        obj.setdefault("kind", info.kind)
        rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        canonical = policy.stamped(facade.to_storage(info, obj), rv)
        namespace, name = _name(canonical)
        return md.key(info, namespace, name), canonical

    async def put(self, info: ResourceInfo, served: Object) -> bool:
        """Write a server's object into the copy unless the copy has it (or a later one);
        True when it wrote."""
        key, canonical = self._stored_form(info, served)
        for _ in range(RETRIES):
            kv = await self.store.get(key)
            try:
                if kv is None:
                    await self.store.create(key, md.encode(canonical))
                    return True
                if not policy.should_write(md.decode(kv), canonical):
                    return False
                await self.store.update(key, md.encode(canonical), kv.mod_revision)
                return True
            except (KeyExists, Conflict, KeyNotFound):
                continue  # the node agent wrote it meanwhile: look again
        log.warning("copy write lost every race key=%s", key)
        return False

    async def drop(self, info: ResourceInfo, served: Object) -> bool:
        """Delete the copy of a server's object (the same incarnation only: same uid)."""
        namespace, name = _name(served)
        uid = (served.get("metadata") or {}).get("uid")
        key = md.key(info, namespace, name)
        for _ in range(RETRIES):
            kv = await self.store.get(key)
            if kv is None:
                return False
            held = md.decode(kv)
            if uid and (held.get("metadata") or {}).get("uid") not in (None, uid):
                return False
            try:
                await self.store.delete(key, kv.mod_revision)
                return True
            except KeyNotFound:
                return False
            except Conflict:
                continue
        return False

    async def replace(self, info: ResourceInfo, items: Iterable[Object]) -> tuple[int, int]:
        """After a (re)list: the copy of this kind becomes exactly `items`. Objects that did
        not change are not touched (a running pod keeps its local version). Returns
        (written, dropped)."""
        written = 0
        upstream: set[str] = set()
        for item in items:
            key, _ = self._stored_form(info, item)
            upstream.add(key)
            written += await self.put(info, item)
        listed = await self.store.list(md.prefix(info))
        local = {kv.key: kv for kv in listed.items}
        dropped = 0
        for key in sorted(policy.vanished(set(local), upstream)):
            try:
                await self.store.delete(key, local[key].mod_revision)
                dropped += 1
            except (KeyNotFound, Conflict):
                continue  # changed since the list: the watch that follows settles it
        return written, dropped

    async def holds_any(self, info: ResourceInfo) -> bool:
        return bool((await self.store.list(md.prefix(info), limit=1)).items)
