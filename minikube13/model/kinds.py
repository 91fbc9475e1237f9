"""The table of served resources: every group/version/kind and where it is stored.

Several served versions can share one storage resource (PetSet and StatefulSet, ScheduledJob
and CronJob, extensions and apps Deployments): objects are stored once, in the canonical
(storage) version, and converted on the way in and out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceInfo:
    """One served resource (a group/version/plural triple)."""

    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    storage: str  # storage resource name, shared by every version of the same objects
    storage_version: str  # "group/version" (or "v1") of the canonical stored form
    storage_kind: str  # kind of the canonical stored form
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # e.g. ("status", "scale")
    verbs: tuple[str, ...] = (
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
    )

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def is_storage_version(self) -> bool:
        return self.api_version == self.storage_version and self.kind == self.storage_kind

    @property
    def list_kind(self) -> str:
        return self.kind + "List"


_ALL = ("all",)
_STATUS = ("status",)
_STATUS_SCALE = ("status", "scale")


def _r(
    group: str, version: str, kind: str, plural: str, namespaced: bool = True, *,
    storage: str | None = None, storage_version: str | None = None,
    storage_kind: str | None = None, short: tuple[str, ...] = (),
    categories: tuple[str, ...] = (), sub: tuple[str, ...] = (),
) -> ResourceInfo:
    api_version = f"{group}/{version}" if group else version
    return ResourceInfo(
        group=group, version=version, kind=kind, plural=plural, namespaced=namespaced,
        storage=storage or plural, storage_version=storage_version or api_version,
        storage_kind=storage_kind or kind, short_names=short, categories=categories,
        subresources=sub,
    )


_APPS_V1 = "apps/v1"
RESOURCES: tuple[ResourceInfo, ...] = (
    # core/v1
    _r("", "v1", "Namespace", "namespaces", False, short=("ns",), sub=("status", "finalize")),
    _r("", "v1", "Pod", "pods", short=("po",), categories=_ALL,
       sub=("status", "binding", "log", "exec", "eviction")),
    _r("", "v1", "Service", "services", short=("svc",), categories=_ALL, sub=_STATUS),
    _r("", "v1", "Endpoints", "endpoints", short=("ep",)),
    _r("", "v1", "Secret", "secrets"),
    _r("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _r("", "v1", "Node", "nodes", False, short=("no",), sub=_STATUS),
    _r("", "v1", "Event", "events", short=("ev",)),
    _r("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",), sub=("token",)),
    _r("", "v1", "PersistentVolume", "persistentvolumes", False, short=("pv",), sub=_STATUS),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), sub=_STATUS),
    _r("", "v1", "ReplicationController", "replicationcontrollers", short=("rc",),
       categories=_ALL, sub=_STATUS_SCALE),
    # apps: v1 is canonical; PetSet (v1alpha1) is the 1.3 spelling of StatefulSet
    _r("apps", "v1", "StatefulSet", "statefulsets", short=("sts",), categories=_ALL,
       sub=_STATUS_SCALE),
    _r("apps", "v1alpha1", "PetSet", "petsets", storage="statefulsets",
       storage_version=_APPS_V1, storage_kind="StatefulSet", sub=_STATUS),
    _r("apps", "v1", "Deployment", "deployments", short=("deploy",), categories=_ALL,
       sub=_STATUS_SCALE),
    _r("apps", "v1", "ReplicaSet", "replicasets", short=("rs",), categories=_ALL,
       sub=_STATUS_SCALE),
    # extensions/v1beta1: the 1.3 home of Deployment and ReplicaSet
    _r("extensions", "v1beta1", "Deployment", "deployments", storage="deployments",
       storage_version=_APPS_V1, sub=_STATUS_SCALE),
    _r("extensions", "v1beta1", "ReplicaSet", "replicasets", storage="replicasets",
       storage_version=_APPS_V1, sub=_STATUS_SCALE),
    # batch
    _r("batch", "v1", "Job", "jobs", categories=_ALL, sub=_STATUS),
    _r("batch", "v1", "CronJob", "cronjobs", short=("cj",), categories=_ALL, sub=_STATUS),
    _r("batch", "v2alpha1", "ScheduledJob", "scheduledjobs", storage="cronjobs",
       storage_version="batch/v1", storage_kind="CronJob", sub=_STATUS),
    # rbac: v1 canonical, v1alpha1 the 1.3 spelling
    *(
        _r("rbac.authorization.k8s.io", v, kind, plural, namespaced,
           storage_version="rbac.authorization.k8s.io/v1")
        for v in ("v1", "v1alpha1")
        for kind, plural, namespaced in (
            ("Role", "roles", True), ("RoleBinding", "rolebindings", True),
            ("ClusterRole", "clusterroles", False),
            ("ClusterRoleBinding", "clusterrolebindings", False),
        )
    ),
    _r("federation", "v1beta1", "Cluster", "clusters", False, sub=_STATUS),
    _r("coordination.k8s.io", "v1", "Lease", "leases"),
    # NetworkPolicy: networking.k8s.io/v1 canonical, extensions/v1beta1 the 1.3 spelling
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    _r("extensions", "v1beta1", "NetworkPolicy", "networkpolicies",
       storage_version="networking.k8s.io/v1"),
)


def find(group: str, version: str, plural: str) -> ResourceInfo | None:
    """The served resource at /apis/{group}/{version}/{plural}, or None."""
    for info in RESOURCES:
        if (info.group, info.version, info.plural) == (group, version, plural):
            return info
    return None


def find_kind(api_version: str, kind: str) -> ResourceInfo | None:
    """The served resource for an object's apiVersion and kind, or None."""
    for info in RESOURCES:
        if info.api_version == api_version and info.kind == kind:
            return info
    return None


def storage_info(info: ResourceInfo) -> ResourceInfo:
    """The served resource that is the canonical (stored) form of `info`."""
    for other in RESOURCES:
        if other.storage == info.storage and other.is_storage_version:
            return other
    raise LookupError(info.storage)


def versions_of(storage: str) -> list[ResourceInfo]:
    """Every served version of one storage resource."""
    return [info for info in RESOURCES if info.storage == storage]


def group_versions() -> dict[str, list[str]]:
    """group -> served versions, preferred (first listed) first."""
    out: dict[str, list[str]] = {}
    for info in RESOURCES:
        versions = out.setdefault(info.group, [])
        if info.version not in versions:
            versions.append(info.version)
    return out
