"""ObjectRegistry: Kubernetes object semantics over the Store, for every served resource.

One instance serves every kind. Requests name the *served* ResourceInfo; objects are stored
once, in canonical form, and converted on the way in and out (registry.facade). Every write
is a compare-and-swap on the revision read; a lost race is retried where the client did not
pin a resourceVersion, and is a 409 Conflict where it did.
"""

from __future__ import annotations

import builtins
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo
from minikube13.registry import deletion, facade, subresources
from minikube13.registry import metadata as md
from minikube13.registry.allocator import ServiceAllocator, WriteGuard
from minikube13.registry.errors import (
    StatusError,
    already_exists,
    bad_request,
    conflict,
    forbidden_on,
    method_not_allowed,
    no_such_subresource,
    not_found,
)
from minikube13.registry.options import DeleteOptions, ListOptions, Result, WriteOptions
from minikube13.registry.paging import encode_continue, matcher, read_page
from minikube13.registry.patch import JSON_PATCH, apply_patch
from minikube13.registry.watch import WatchSettings, watch_objects
from minikube13.store.interface import Conflict, KeyExists, KeyNotFound, KeyValue, Store

Object = dict[str, Any]

RETRIES = 5
STALE = "the object has been modified; please apply your changes to the latest version and " \
        "try again"

# Kinds whose PUT creates a missing object (their strategies' AllowCreateOnUpdate).
CREATE_ON_UPDATE = frozenset({
    "endpoints", "events", "leases", "roles", "rolebindings", "clusterroles",
    "clusterrolebindings",
})

NAMESPACES = kinds.find("", "v1", "namespaces")
PODS = kinds.find("", "v1", "pods")
assert NAMESPACES is not None and PODS is not None


def utcnow() -> datetime:
    return datetime.now(UTC)


class _CasLost(Exception):
    """The store's compare-and-swap failed: someone wrote the object since we read it."""


def _body(obj: Any) -> Object:
    if not isinstance(obj, dict):
        raise bad_request("the body of the request must be a JSON object")
    return obj


def _check_subresource(info: ResourceInfo, subresource: str, allowed: tuple[str, ...]) -> None:
    if subresource and subresource not in info.subresources:
        raise no_such_subresource()
    if subresource not in allowed:
        raise method_not_allowed()


def _patch_pins_version(patch_type: str, patch: Any) -> bool:
    """Whether the patch itself carries metadata.resourceVersion (then a race is a 409)."""
    if patch_type == JSON_PATCH:
        return isinstance(patch, list) and any(
            isinstance(op, dict) and op.get("path") == "/metadata/resourceVersion"
            for op in patch)
    meta = patch.get("metadata") if isinstance(patch, dict) else None
    return isinstance(meta, dict) and bool(meta.get("resourceVersion"))


class ObjectRegistry:
    """The generic registry the API layer and the controllers call."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = utcnow,
                 bookmark_interval: float = 60.0, rng: random.Random | None = None):
        self.store = store
        self.clock = clock
        self.watch_settings = WatchSettings(bookmark_interval=bookmark_interval)
        self._rng = rng or random.SystemRandom()
        # storage -> guard run around each create/update write (Service IP/port allocation)
        self.write_guards: dict[str, WriteGuard] = {"services": ServiceAllocator()}

    # -- reads -----------------------------------------------------------------------------

    async def get(self, info: ResourceInfo, namespace: str, name: str,
                  subresource: str = "") -> Result:
        _check_subresource(info, subresource, ("", "status", "scale"))
        _, obj = await self._current(info, namespace, name)
        if subresource == "scale":
            return Result(subresources.scale_of(info, obj), [])
        return Result(facade.from_storage(info, obj), [])

    async def list(self, info: ResourceInfo, namespace: str, opts: ListOptions) -> Object:
        match = matcher(info, opts)
        page = await read_page(self.store, info, namespace, opts, match, match.everything)
        meta: Object = {"resourceVersion": str(page.revision)}
        if page.next_start is not None:
            meta["continue"] = encode_continue(page.revision, page.next_start)
        return {"apiVersion": info.api_version, "kind": info.list_kind, "metadata": meta,
                "items": [facade.from_storage(info, obj) for obj in page.items]}

    def watch(self, info: ResourceInfo, namespace: str,
              opts: ListOptions) -> AsyncIterator[Object]:
        """Watch events, served form; raises StatusError 410 (Expired) when first iterated
        if the resourceVersion has been compacted."""
        return watch_objects(self.store, info, namespace, opts, self.watch_settings)

    # -- create ----------------------------------------------------------------------------

    async def create(self, info: ResourceInfo, namespace: str, obj: Object, opts: WriteOptions,
                     subresource: str = "", name: str = "") -> Result:
        if subresource:
            _check_subresource(info, subresource, ("binding",))
            return await self._bind(namespace, name, _body(obj), opts)
        canonical = facade.to_storage(info, _body(obj))
        md.place(info, canonical, namespace)
        meta = md.meta_of(canonical)
        if info.namespaced:
            await self._check_namespace(info, namespace, meta.get("name") or "")
        generated = not meta.get("name") and bool(meta.get("generateName"))
        for attempt in range(RETRIES if generated else 1):
            new = md.prepare_create(info, canonical, uid=str(uuid.uuid4()), now=self.clock(),
                                    suffix=self._name_suffix())
            new, warnings = facade.admit(info, new, None, opts.field_validation)
            key = md.key(info, namespace, md.require_name(info, new))
            try:
                async with self._guarded(info, key, new, None):
                    revision = await self._insert(key, new, opts)
            except KeyExists:
                if attempt + 1 < RETRIES and generated:
                    continue
                raise already_exists(info.group, info.plural, new["metadata"]["name"]) from None
            if revision:
                new["metadata"]["resourceVersion"] = str(revision)
            return Result(facade.from_storage(info, new), warnings, 201)
        raise AssertionError("unreachable")

    async def _insert(self, key: str, obj: Object, opts: WriteOptions) -> int:
        if opts.dry_run:
            if await self.store.get(key) is not None:
                raise KeyExists(key)
            return 0
        return await self.store.create(key, md.encode(obj))

    def _name_suffix(self) -> str:
        return "".join(self._rng.choice(md.NAME_ALPHABET) for _ in range(md.NAME_SUFFIX_LENGTH))

    async def _check_namespace(self, info: ResourceInfo, namespace: str, name: str) -> None:
        """NamespaceLifecycle admission: the namespace must exist and not be terminating."""
        assert NAMESPACES is not None
        kv = await self.store.get(md.key(NAMESPACES, "", namespace))
        if kv is None:
            raise not_found("", "namespaces", namespace)
        ns = md.decode(kv)
        if ns["metadata"].get("deletionTimestamp") or \
                (ns.get("status") or {}).get("phase") == "Terminating":
            raise forbidden_on(info.group, info.plural, name,
                               f"unable to create new content in namespace {namespace} "
                               "because it is being terminated")

    async def ensure_namespace(self, name: str) -> None:
        """Create the namespace if it is missing (daemon bootstrap)."""
        assert NAMESPACES is not None
        try:
            await self.create(NAMESPACES, "", {"metadata": {"name": name}}, WriteOptions())
        except StatusError as err:
            if err.code != 409:
                raise

    # -- update and patch ------------------------------------------------------------------

    async def update(self, info: ResourceInfo, namespace: str, name: str, obj: Object,
                     opts: WriteOptions, subresource: str = "") -> Result:
        _check_subresource(info, subresource, ("", "status", "scale", "finalize"))
        body = _body(obj)
        pinned = str((body.get("metadata") or {}).get("resourceVersion") or "")
        if pinned:
            md.parse_resource_version(pinned, "metadata.resourceVersion")
        for _ in range(RETRIES):
            kv = await self.store.get(md.key(info, namespace, name))
            if kv is None:
                if not subresource and info.storage in CREATE_ON_UPDATE:
                    body = dict(body, metadata={**(body.get("metadata") or {}), "name": name})
                    md.meta_of(body).pop("resourceVersion", None)
                    return await self.create(info, namespace, body, opts)
                raise not_found(info.group, info.plural, name)
            if pinned and pinned != str(kv.mod_revision):
                raise conflict(info.group, info.plural, name, STALE)
            current = md.decode(kv)
            try:
                if subresource == "scale":
                    scaled = subresources.apply_scale(info, current, body)
                    stored, warnings = await self._apply_update(info, kv, scaled, opts, "")
                    return Result(subresources.scale_of(info, stored), warnings)
                canonical = facade.to_storage(info, body)
                md.place(info, canonical, namespace, name)
                stored, warnings = await self._apply_update(info, kv, canonical, opts,
                                                            subresource)
                return Result(facade.from_storage(info, stored), warnings)
            except _CasLost:
                if pinned:
                    raise conflict(info.group, info.plural, name, STALE) from None
        raise conflict(info.group, info.plural, name, STALE)

    async def patch(self, info: ResourceInfo, namespace: str, name: str, patch_type: str,
                    patch: Any, opts: WriteOptions, subresource: str = "") -> Result:
        _check_subresource(info, subresource, ("", "status", "scale"))
        pinned = _patch_pins_version(patch_type, patch)
        schema = None if subresource == "scale" else facade.schema_of(info)
        for _ in range(RETRIES):
            kv, current = await self._current(info, namespace, name)
            try:
                if subresource == "scale":
                    scale = subresources.scale_of(info, current)
                    patched = apply_patch(patch_type, scale, patch, None)
                    self._check_pinned(info, name, kv, patched)
                    scaled = subresources.apply_scale(info, current, patched)
                    stored, warnings = await self._apply_update(info, kv, scaled, opts, "")
                    return Result(subresources.scale_of(info, stored), warnings)
                served = facade.from_storage(info, current)
                patched = apply_patch(patch_type, served, patch, schema)
                self._check_pinned(info, name, kv, patched)
                canonical = facade.to_storage(info, patched)
                md.place(info, canonical, namespace, name)
                stored, warnings = await self._apply_update(info, kv, canonical, opts,
                                                            subresource)
                return Result(facade.from_storage(info, stored), warnings)
            except _CasLost:
                if pinned:
                    raise conflict(info.group, info.plural, name, STALE) from None
        raise conflict(info.group, info.plural, name, STALE)

    @staticmethod
    def _check_pinned(info: ResourceInfo, name: str, kv: KeyValue, patched: Object) -> None:
        rv = str((patched.get("metadata") or {}).get("resourceVersion") or "")
        if rv and rv != str(kv.mod_revision):
            raise conflict(info.group, info.plural, name, STALE)

    async def _apply_update(self, info: ResourceInfo, kv: KeyValue, new: Object,
                            opts: WriteOptions, subresource: str) -> tuple[Object, builtins.list[str]]:
        """Prepare, admit and write `new` over the stored `kv`; return the stored object
        and the warnings (raises _CasLost)."""
        old = md.decode(kv)
        prepared = md.prepare_update(info, new, old, subresource)
        admitted, warnings = facade.admit(info, prepared, old, opts.field_validation)
        md.bump_generation(admitted, old)
        async with self._guarded(info, kv.key, admitted, old):
            return await self._commit(info, kv, old, admitted, opts), warnings

    def _guarded(self, info: ResourceInfo, key: str, new: Object,
                 old: Object | None) -> contextlib.AbstractAsyncContextManager[Any]:
        guard = self.write_guards.get(info.storage)
        if guard is None:
            return contextlib.nullcontext()
        return guard.guard(self.store, info, key, new, old)

    async def _commit(self, info: ResourceInfo, kv: KeyValue, old: Object, new: Object,
                      opts: WriteOptions) -> Object:
        """Write an update; a no-op writes nothing, and dropping the last finalizer of an
        object being deleted deletes it. Returns the stored object."""
        if md.without_version(new) == md.without_version(old):
            return old
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        deleting = md.should_delete_on_update(info, new, old)
        if opts.dry_run:
            return new
        try:
            if deleting:
                gone = await self.store.delete(kv.key, kv.mod_revision)
                new["metadata"]["resourceVersion"] = str(gone.mod_revision)
            else:
                revision = await self.store.update(kv.key, md.encode(new), kv.mod_revision)
                new["metadata"]["resourceVersion"] = str(revision)
        except (Conflict, KeyNotFound):
            raise _CasLost() from None
        return new

    # -- delete ----------------------------------------------------------------------------

    async def delete(self, info: ResourceInfo, namespace: str, name: str,
                     opts: DeleteOptions) -> Result:
        deletion.check_options(opts)
        deletion.check_deletable(info, name)
        for _ in range(RETRIES):
            kv, current = await self._current(info, namespace, name)
            deletion.check_preconditions(info, current, opts)
            plan = deletion.plan_delete(info, current, opts, self.clock())
            if plan.outcome is deletion.Outcome.PENDING:
                return Result(facade.from_storage(info, current), [], 202)
            now = plan.outcome is deletion.Outcome.NOW
            if opts.dry_run:
                return Result(facade.from_storage(info, plan.obj), [], 200 if now else 202)
            try:
                if now:
                    gone = await self.store.delete(kv.key, kv.mod_revision)
                    return Result(facade.from_storage(info, md.decode(gone)), [], 200)
                revision = await self.store.update(kv.key, md.encode(plan.obj), kv.mod_revision)
            except (Conflict, KeyNotFound):
                continue
            plan.obj["metadata"]["resourceVersion"] = str(revision)
            return Result(facade.from_storage(info, plan.obj), [], 202)
        raise conflict(info.group, info.plural, name, STALE)

    async def delete_collection(self, info: ResourceInfo, namespace: str,
                                list_opts: ListOptions, opts: DeleteOptions) -> Object:
        deletion.check_options(opts)
        selection = ListOptions(label_selector=list_opts.label_selector,
                                field_selector=list_opts.field_selector)
        listed = await self.list(info, namespace, selection)
        each = DeleteOptions(grace_period_seconds=opts.grace_period_seconds,
                             propagation_policy=opts.propagation_policy,
                             orphan_dependents=opts.orphan_dependents, dry_run=opts.dry_run)
        deleted: builtins.list[Object] = []
        for item in listed["items"]:
            meta = item.get("metadata") or {}
            if info.storage == "namespaces" and meta.get("name") in deletion.IMMORTAL_NAMESPACES:
                continue
            try:
                result = await self.delete(info, meta.get("namespace") or "", meta["name"], each)
            except StatusError as err:
                if err.code == 404:
                    continue
                raise
            deleted.append(result.object)
        return {"apiVersion": info.api_version, "kind": info.list_kind,
                "metadata": {"resourceVersion": listed["metadata"]["resourceVersion"]},
                "items": deleted}

    # -- binding ---------------------------------------------------------------------------

    async def _bind(self, namespace: str, name: str, binding: Object,
                    opts: WriteOptions) -> Result:
        assert PODS is not None
        given = (binding.get("metadata") or {}).get("name") or ""
        if name and given and given != name:
            raise bad_request(f"the name of the object ({given}) does not match the name on "
                              f"the URL ({name})")
        name = name or given
        for _ in range(RETRIES):
            kv, pod = await self._current(PODS, namespace, name)
            bound = subresources.bind(pod, binding, self.clock())
            if opts.dry_run:
                return Result(subresources.success_status(201), [], 201)
            try:
                await self.store.update(kv.key, md.encode(bound), kv.mod_revision)
            except (Conflict, KeyNotFound):
                continue
            return Result(subresources.success_status(201), [], 201)
        raise conflict("", "pods/binding", name, STALE)

    # -- helpers ---------------------------------------------------------------------------

    async def _current(self, info: ResourceInfo, namespace: str,
                       name: str) -> tuple[KeyValue, Object]:
        kv = await self.store.get(md.key(info, namespace, name))
        if kv is None:
            raise not_found(info.group, info.plural, name)
        return kv, md.decode(kv)

