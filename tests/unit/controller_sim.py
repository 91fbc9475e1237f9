"""A tiny in-memory cluster for the replica controllers' unit tests: a dict-backed View, a
fake clock, a runner that applies actions, and a kubelet that makes pods ready."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from minikube13.controllers import deployment, replicaset
from minikube13.controllers.actions import (
    Action,
    CreateObject,
    DeleteObject,
    ObjectRef,
    PatchObject,
    RecordEvent,
    RemoveOwnerRefs,
    ReplaceObject,
    ReplaceStatus,
)

Object = dict[str, Any]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(target: Object, patch: Object) -> Object:
    out = copy.deepcopy(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class Cluster:
    """The View protocol over plain dicts, plus a runner and a kubelet."""

    def __init__(self) -> None:
        self.store: dict[str, dict[tuple[str, str], Object]] = {}
        self.now = T0
        self.serial = 0
        self.events: list[RecordEvent] = []
        self.failed_creates = 0

    # -- View -----------------------------------------------------------------------------
    def get(self, ref: ObjectRef) -> Object | None:
        obj = self.store.get(ref.storage, {}).get((ref.namespace, ref.name))
        return copy.deepcopy(obj) if obj is not None else None

    def objects(self, storage: str, namespace: str | None = None) -> list[Object]:
        return [copy.deepcopy(o) for (ns, _), o in sorted(self.store.get(storage, {}).items())
                if namespace is None or ns == namespace]

    def dependents(self, owner_uid: str) -> list[tuple[ObjectRef, Object]]:
        return []

    def in_namespace(self, namespace: str) -> list[tuple[ObjectRef, Object]]:
        return []

    # -- writes ---------------------------------------------------------------------------
    def add(self, storage: str, obj: Object) -> Object:
        obj = copy.deepcopy(obj)
        self.serial += 1
        m = obj.setdefault("metadata", {})
        m.setdefault("namespace", "default")
        if not m.get("name"):
            m["name"] = f"{m['generateName']}{self.serial:05d}"
        m.setdefault("uid", f"uid-{self.serial}")
        m.setdefault("creationTimestamp", stamp(self.now + timedelta(microseconds=self.serial)))
        m.setdefault("generation", 1)
        m["resourceVersion"] = str(self.serial)
        self.store.setdefault(storage, {})[(m["namespace"], m["name"])] = obj
        return obj

    def ref(self, storage: str, name: str) -> ObjectRef:
        return ObjectRef(storage, "default", name)

    def obj(self, storage: str, name: str) -> Object:
        found = self.get(self.ref(storage, name))
        assert found is not None
        return found

    def put(self, ref: ObjectRef, obj: Object) -> None:
        old = self.store[ref.storage][(ref.namespace, ref.name)]
        self.serial += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.serial)
        if obj.get("spec") != old.get("spec"):
            obj["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        obj["status"] = old.get("status", {})
        self.store[ref.storage][(ref.namespace, ref.name)] = obj

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            self._apply(action)

    def _apply(self, action: Action) -> None:
        if isinstance(action, CreateObject):
            existing = action.obj["metadata"].get("name")
            if existing and self.get(ObjectRef(action.storage, action.namespace, existing)):
                return
            if self.failed_creates:
                self.failed_creates -= 1
                return
            self.add(action.storage, action.obj)
        elif isinstance(action, ReplaceObject):
            self.put(action.ref, action.obj)
        elif isinstance(action, PatchObject):
            current = self.store[action.ref.storage][(action.ref.namespace, action.ref.name)]
            self.put(action.ref, merge(current, action.patch))
        elif isinstance(action, ReplaceStatus):
            self.store[action.ref.storage][(action.ref.namespace, action.ref.name)][
                "status"] = copy.deepcopy(action.status)
        elif isinstance(action, DeleteObject):
            self.store[action.ref.storage].pop((action.ref.namespace, action.ref.name), None)
        elif isinstance(action, RemoveOwnerRefs):
            obj = self.store[action.ref.storage][(action.ref.namespace, action.ref.name)]
            obj["metadata"]["ownerReferences"] = [
                r for r in obj["metadata"].get("ownerReferences", [])
                if r["uid"] not in action.owner_uids]
        elif isinstance(action, RecordEvent):
            self.events.append(action)

    # -- controllers and kubelet ---------------------------------------------------------------
    def sync_replica_sets(self) -> None:
        for storage in ("replicasets", "replicationcontrollers"):
            for rs in self.objects(storage):
                ref = self.ref(storage, rs["metadata"]["name"])
                self.apply(replicaset.reconcile(ref, self, self.now))

    def sync_deployment(self, name: str) -> list[Action]:
        actions = deployment.reconcile(self.ref("deployments", name), self, self.now)
        self.apply(actions)
        return actions

    def kubelet(self, ready: Callable[[Object], bool] = lambda pod: True) -> None:
        """Start every pod; make those `ready` says Ready (since now)."""
        for pod in self.store.get("pods", {}).values():
            status = pod.setdefault("status", {})
            status["phase"] = "Running"
            if ready(pod) and not replicaset.is_ready(pod):
                status["conditions"] = [{"type": "Ready", "status": "True",
                                         "lastTransitionTime": stamp(self.now)}]
            pod.setdefault("spec", {})["nodeName"] = "node-1"

    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)

    def pods(self) -> list[Object]:
        return [p for p in self.objects("pods") if replicaset.is_active(p)]


def pod_template(image: str = "nginx:1", app: str = "web") -> Object:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": image}]}}


def new_deployment(name: str = "web", replicas: int = 4, **spec: Any) -> Object:
    body: Object = {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                    "template": pod_template(), "revisionHistoryLimit": 10,
                    "progressDeadlineSeconds": 600,
                    "strategy": {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"}, "spec": body}
