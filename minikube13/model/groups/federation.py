"""federation/v1beta1 Cluster: a member cluster of a 1.3 federation (cluster-scoped).

spec.serverAddressByClientCIDRs says which API server address a client in each network should
use; spec.secretRef names a Secret (key `kubeconfig`) holding the credentials. The federation
controller writes status: conditions Ready/Offline, zones and region.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import objects
from minikube13.model.errors import FieldError
from minikube13.model.groups.meta import (
    AGE_COLUMN,
    LOCAL_OBJECT_REFERENCE,
    NAME_COLUMN,
    TIME,
    name_of,
    obj,
    object_age,
    top_level,
)
from minikube13.model.objects import Column, KindSpec, Object
from minikube13.model.schema import Arr, string

_API = "io.k8s.federation.apis.federation.v1beta1"
CONDITION_TYPES = ("Ready", "Offline")
CONDITION_STATUSES = ("True", "False", "Unknown")

SERVER_ADDRESS_BY_CLIENT_CIDR = obj(
    f"{_API}.ServerAddressByClientCIDR",
    "ServerAddressByClientCIDR helps the client to determine the server address that they "
    "should use, depending on the clientCIDR that they match.", {
        "clientCIDR": string("The CIDR with which clients can match their IP to figure out "
                             "the server address that they should use."),
        "serverAddress": string("Address of this server, suitable for a client that matches "
                                "the above CIDR. This can be a hostname, hostname:port, IP or "
                                "IP:port."),
    }, required=("clientCIDR", "serverAddress"))

CLUSTER_SPEC = obj(f"{_API}.ClusterSpec", "ClusterSpec describes the attributes of a "
                   "kubernetes cluster.", {
    "serverAddressByClientCIDRs": Arr(
        items=SERVER_ADDRESS_BY_CLIENT_CIDR, merge_key="clientCIDR", strategy="merge",
        description="A map of client CIDR to server address."),
    "secretRef": LOCAL_OBJECT_REFERENCE.with_description(
        "Name of the secret containing kubeconfig to access this cluster."),
}, required=("serverAddressByClientCIDRs",))

CLUSTER_CONDITION = obj(f"{_API}.ClusterCondition", "ClusterCondition describes current "
                        "state of a cluster.", {
    "type": string("Type of cluster condition, Complete or Failed."),
    "status": string("Status of the condition, one of True, False, Unknown."),
    "lastProbeTime": TIME.with_description("Last time the condition was checked."),
    "lastTransitionTime": TIME.with_description("Last time the condition transit from one "
                                                "status to another."),
    "reason": string("(brief) reason for the condition's last transition."),
    "message": string("Human readable message indicating details about last transition."),
}, required=("type", "status"))

CLUSTER_STATUS = obj(f"{_API}.ClusterStatus", "ClusterStatus is information about the current "
                     "status of a cluster updated by cluster controller periodically.", {
    "conditions": Arr(items=CLUSTER_CONDITION, description="Conditions is an array of current "
                      "cluster conditions."),
    "zones": Arr(items=string(), description="Zones is the list of availability zones in "
                 "which the nodes of the cluster exist, e.g. 'us-east1-a'."),
    "region": string("Region is the name of the region in which all of the nodes in the "
                     "cluster exist.  e.g. 'us-east1'."),
})

CLUSTER = top_level(f"{_API}.Cluster", "Information about a registered cluster in a federated "
                    "kubernetes setup. Clusters are not namespaced and have unique names in "
                    "the federation.", {
    "spec": CLUSTER_SPEC.with_description("Spec defines the behavior of the Cluster."),
    "status": CLUSTER_STATUS.with_description("Status describes the current status of a "
                                              "Cluster"),
})


def _validate_address(entry: dict[str, Any], path: str) -> list[FieldError]:
    out: list[FieldError] = []
    cidr = entry.get("clientCIDR") or ""
    if not cidr:
        out.append(fe.required(f"{path}.clientCIDR"))
    else:
        try:
            ipaddress.ip_network(cidr, strict=False)
            if "/" not in cidr:
                raise ValueError(cidr)
        except ValueError:
            out.append(fe.invalid(f"{path}.clientCIDR", cidr, "must be a valid CIDR value, "
                                  "(e.g. 10.9.8.0/24 or 2001:db8::/64)"))
    if not entry.get("serverAddress"):
        out.append(fe.required(f"{path}.serverAddress"))
    return out


def validate_cluster(new: Object, old: Object | None) -> list[FieldError]:
    spec = new.get("spec") if isinstance(new.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    addresses = spec.get("serverAddressByClientCIDRs") or []
    if not addresses:
        return [fe.required("spec.serverAddressByClientCIDRs")]
    out: list[FieldError] = []
    for i, entry in enumerate(addresses):
        if isinstance(entry, dict):
            out += _validate_address(entry, f"spec.serverAddressByClientCIDRs[{i}]")
    ref = spec.get("secretRef")
    if isinstance(ref, dict) and not ref.get("name"):
        out.append(fe.required("spec.secretRef.name"))
    status = new.get("status") if isinstance(new.get("status"), dict) else {}
    assert isinstance(status, dict)
    for i, cond in enumerate(status.get("conditions") or []):
        if isinstance(cond, dict) and cond.get("status") not in CONDITION_STATUSES:
            out.append(fe.not_supported(f"status.conditions[{i}].status", cond.get("status", ""),
                                        list(CONDITION_STATUSES)))
    return out


def cluster_status_text(cluster: Object) -> str:
    """kubectl 1.3's STATUS: each condition as `Type` when True, else `NotType`."""
    texts = [str(c.get("type", "")) if c.get("status") == "True" else f"Not{c.get('type', '')}"
             for c in (cluster.get("status") or {}).get("conditions") or []]
    return ",".join(texts) or "Unknown"


def cluster_cells(cluster: Object, now: datetime) -> list[Any]:
    return [name_of(cluster), cluster_status_text(cluster), object_age(cluster, now)]


objects.register(KindSpec(
    "clusters", CLUSTER, validate=validate_cluster,
    columns=(NAME_COLUMN, Column("Status", description="The readiness of the cluster"),
             AGE_COLUMN),
    cells=cluster_cells))
