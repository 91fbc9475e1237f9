"""The namespace controller's decisions (pure): empty a Terminating namespace, then finalize.

A namespace delete only marks it Terminating (deletionTimestamp, status.phase). While its
spec.finalizers holds `kubernetes`, this controller deletes everything in it (background
propagation, as the apiserver's namespace deleter does), waits until nothing is left
(finalizers and grace periods of the contents are honoured), then removes `kubernetes`
through the finalize subresource, which lets the registry remove the namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from minikube13.controllers.garbage_collector import DeleteObject, ObjectRef, View

Object = dict[str, Any]

FINALIZER = "kubernetes"


@dataclass(frozen=True)
class FinalizeNamespace:
    """Remove the `kubernetes` finalizer once a live check finds the namespace empty."""

    name: str
    uid: str


NamespaceAction = DeleteObject | FinalizeNamespace


def reconcile(name: str, view: View, now: datetime) -> list[NamespaceAction]:
    """The actions for namespace `name` right now."""
    ns = view.get(ObjectRef("namespaces", "", name))
    if ns is None:
        return []
    meta = ns.get("metadata") or {}
    if not meta.get("deletionTimestamp"):
        return []
    if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
        return []
    contents = view.in_namespace(name)
    actions: list[NamespaceAction] = [
        DeleteObject(ref, "Background") for ref, obj in contents
        if not (obj.get("metadata") or {}).get("deletionTimestamp")
    ]
    if not contents:
        actions.append(FinalizeNamespace(name, meta.get("uid", "")))
    return actions
