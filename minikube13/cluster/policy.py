"""What an agent keeps in its local copy, how a copied object remembers the servers' version,
and where each request to the agent's API goes (pure).

The copy holds every Pod, Node, Namespace, Service, Endpoints, NetworkPolicy, Secret
(bootstrap tokens aside), ConfigMap and ServiceAccount of the cluster: the node agent runs
its own pods from it (it watches them by spec.nodeName, as on a server), the service proxy
and network policies need every pod's address and labels, DNS answers for pods and
services. (A node authorizer would narrow secrets to those its pods name.) A copied object is stored in canonical form with the servers'
resourceVersion in the annotation UPSTREAM_RV; the local store gives it a local revision as
usual. Readers inside the agent (the node agent) see local revisions, so its compare-and-swap
writes and watches stay in one version space; the agent's API shows the servers' version
(`served_view`) on GET and LIST, so `kubectl edit`/`apply` through the agent, forwarded to a
server, pins the version the server knows. Watch events keep local revisions: a client
resumes a watch from the last event's version, and that watch is served from the copy.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Object = dict[str, Any]

UPSTREAM_RV = "agent.minikube13.io/upstream-resource-version"
STALE_WARNING = '299 minikube13 "cut off from the servers: this answer may be stale"'
READ_VERBS = frozenset({"get", "list", "watch"})
# A pod's logs and streams are its node's: on an agent they are always served locally.
NODE_STREAMS = frozenset({"log", "exec", "attach", "portforward"})


@dataclass(frozen=True)
class Kept:
    """One kind the agent copies: (group, version, plural) as served by the servers."""

    group: str
    version: str
    plural: str
    selector: str = ""  # a fieldSelector of what the copy leaves out

    @property
    def path(self) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{base}/{self.plural}"



KEPT: tuple[Kept, ...] = (
    Kept("", "v1", "namespaces"),
    Kept("", "v1", "nodes"),
    Kept("", "v1", "services"),
    Kept("", "v1", "endpoints"),
    # bootstrap tokens join nodes: an agent has no use for them, so they stay on the servers
    Kept("", "v1", "secrets", selector="type!=bootstrap.kubernetes.io/token"),
    Kept("", "v1", "configmaps"),
    Kept("", "v1", "serviceaccounts"),
    Kept("", "v1", "pods"),
    Kept("networking.k8s.io", "v1", "networkpolicies"),
)
KEPT_STORAGES = frozenset(k.plural for k in KEPT)


class Way(enum.Enum):
    LOCAL = "local"        # answer from the copy
    FORWARD = "forward"    # proxy to a live server
    UNAVAILABLE = "unavailable"  # cut off and the copy cannot answer: 503


def route(storage: str, verb: str, subresource: str, online: bool) -> Way:
    """Where a request to the agent's API goes. Reads of kinds the copy keeps are local,
    and so are a pod's logs and exec (this node's own); everything else needs a server."""
    if storage == "pods" and subresource in NODE_STREAMS:
        return Way.LOCAL
    if verb in READ_VERBS and subresource in ("", "status") and storage in KEPT_STORAGES:
        return Way.LOCAL
    return Way.FORWARD if online else Way.UNAVAILABLE


def unavailable_message(storage: str, verb: str) -> str:
    what = "read" if verb in READ_VERBS else "write"
    return (f"this node is cut off from the servers: it cannot {what} {storage} now "
            f"(its local copy answers reads of {', '.join(sorted(KEPT_STORAGES))}); "
            "try again when the link is back")


# -- the servers' version on a copied object ---------------------------------------------

def upstream_rv(obj: Mapping[str, Any]) -> str:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(UPSTREAM_RV) or "")


def stamped(canonical: Object, rv: str) -> Object:
    """The canonical object as the copy stores it: the servers' version in the annotation,
    no resourceVersion (the local store's revision is filled in on read)."""
    out = dict(canonical)
    meta = dict(out.get("metadata") or {})
    meta.pop("resourceVersion", None)
    meta["annotations"] = {**(meta.get("annotations") or {}), UPSTREAM_RV: rv}
    out["metadata"] = meta
    return out


def unstamped(obj: Object) -> Object:
    """The object without the copy's annotation (what is sent to a server)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or UPSTREAM_RV not in (meta.get("annotations") or {}):
        return obj
    annotations = {k: v for k, v in meta["annotations"].items() if k != UPSTREAM_RV}
    new_meta = dict(meta, annotations=annotations)
    if not annotations:
        del new_meta["annotations"]
    return dict(obj, metadata=new_meta)


def served_view(obj: Object) -> Object:
    """What the agent's API shows for GET and LIST: the servers' resourceVersion, when the
    object came from them, and no trace of the annotation."""
    rv = upstream_rv(obj)
    out = unstamped(obj)
    if rv:
        out = dict(out, metadata=dict(out.get("metadata") or {}, resourceVersion=rv))
    return out


def _newer(a: str, b: str) -> bool:
    """Whether version `a` is later than `b` (our servers' versions are integers)."""
    try:
        return int(a) > int(b)
    except ValueError:
        return False


def should_write(current: Object | None, incoming: Object) -> bool:
    """Whether a copied object (`incoming`, stamped, without resourceVersion) replaces what
    the copy holds: yes unless the copy already has a later server version, or the same
    content. A copy changed locally while cut off differs, so the servers' object wins."""
    if current is None:
        return True
    if _newer(upstream_rv(current), upstream_rv(incoming)):
        return False
    meta = dict(current.get("metadata") or {})
    meta.pop("resourceVersion", None)
    return dict(current, metadata=meta) != incoming


def translate_pin(pinned: str, local_revision: int | None, current: Object | None) -> str | None:
    """A local resourceVersion pinned by a writer inside the agent, as the servers' version
    to send: "" = send no pin (the copy does not know the servers' version), None = the pin
    is stale already (the writer must re-read: 409)."""
    if not pinned:
        return ""
    if local_revision is None or current is None:
        return ""
    if pinned != str(local_revision):
        return None
    return upstream_rv(current)


def server_urls_from_members(members: Iterable[tuple[str, Mapping[str, str]]]) -> list[str]:
    """The API URLs of the live servers in a gossip view ((status, tags) per member): where
    an agent may fail over to, beyond the servers its join named."""
    return [tags["api"].rstrip("/") for status, tags in members
            if status == "alive" and tags.get("role") == "server" and tags.get("api")]


def vanished(local_names: set[str], upstream_names: set[str]) -> set[str]:
    """Keys the copy holds that the servers no longer have (deleted while we were away)."""
    return local_names - upstream_names
