"""core/v1 Service and Endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import objects
from minikube13.model import validation as v
from minikube13.model.errors import FieldError
from minikube13.model.groups.core_container import core, port_name_problems, validate_port_number
from minikube13.model.groups.meta import (
    AGE_COLUMN,
    CONDITION,
    NAME_COLUMN,
    OBJECT_REFERENCE,
    STRING_LIST,
    STRING_MAP,
    dict_at,
    name_of,
    object_age,
    top_level,
)
from minikube13.model.objects import Column, KindSpec
from minikube13.model.schema import Arr, IntOrString, boolean, integer, string

Json = dict[str, Any]

PROTOCOLS = ["SCTP", "TCP", "UDP"]
SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
AFFINITIES = ["ClientIP", "None"]

SERVICE_PORT = core("ServicePort", {
    "name": string("The name of this port within the service. This must be a DNS_LABEL."),
    "protocol": string("The IP protocol for this port. Supports \"TCP\", \"UDP\", and "
                       "\"SCTP\". Default is TCP.", enum=("SCTP", "TCP", "UDP")),
    "appProtocol": string(),
    "port": integer("The port that will be exposed by this service."),
    "targetPort": IntOrString(description="Number or name of the port to access on the pods "
                                          "targeted by the service."),
    "nodePort": integer("The port on each node on which this service is exposed when type is "
                        "NodePort or LoadBalancer."),
}, "ServicePort contains information on service's port.", ("port",))
SERVICE_SPEC = core("ServiceSpec", {
    "ports": Arr(items=SERVICE_PORT, merge_key="port", strategy="merge", list_type="map",
                 map_keys=("port", "protocol"),
                 description="The list of ports that are exposed by this service."),
    "selector": STRING_MAP.with_description(
        "Route service traffic to pods with label keys and values matching this selector."),
    "clusterIP": string(), "clusterIPs": Arr(items=string(), list_type="atomic"),
    "type": string("type determines how the Service is exposed. Defaults to ClusterIP.",
                   enum=tuple(SERVICE_TYPES)),
    "externalIPs": STRING_LIST, "sessionAffinity": string(enum=tuple(AFFINITIES)),
    "loadBalancerIP": string(), "loadBalancerSourceRanges": STRING_LIST,
    "externalName": string(), "externalTrafficPolicy": string(),
    "healthCheckNodePort": integer(), "publishNotReadyAddresses": boolean(),
    "sessionAffinityConfig": core("SessionAffinityConfig", {"clientIP": core(
        "ClientIPConfig", {"timeoutSeconds": integer()})}),
    "ipFamilies": Arr(items=string(), list_type="atomic"), "ipFamilyPolicy": string(),
    "allocateLoadBalancerNodePorts": boolean(), "loadBalancerClass": string(),
    "internalTrafficPolicy": string(), "trafficDistribution": string(),
}, "ServiceSpec describes the attributes that a user creates on a service.")
LOAD_BALANCER_STATUS = core("LoadBalancerStatus", {"ingress": Arr(items=core(
    "LoadBalancerIngress", {"ip": string(), "hostname": string(), "ipMode": string(),
                            "ports": Arr(items=core("PortStatus", {
                                "port": integer(), "protocol": string(),
                                "error": string()}))}))})
SERVICE = top_level("io.k8s.api.core.v1.Service", "Service is a named abstraction of software "
                    "service (for example, mysql) consisting of local port (for example 3306) "
                    "that the proxy listens on, and the selector that determines which pods "
                    "will answer requests sent through the proxy.", {
                        "spec": SERVICE_SPEC,
                        "status": core("ServiceStatus", {
                            "loadBalancer": LOAD_BALANCER_STATUS,
                            "conditions": Arr(items=CONDITION, merge_key="type",
                                              strategy="merge")}),
                    })


def default_service(svc: Json) -> Json:
    spec = svc.setdefault("spec", {})
    if not isinstance(spec, dict):
        return svc
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["sessionAffinity"] == "ClientIP":
        spec.setdefault("sessionAffinityConfig", {"clientIP": {"timeoutSeconds": 10800}})
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    return svc


def service_on_update(new: Json, old: Json) -> Json:
    """Allocated values the client left out are kept (the apiserver's patchAllocatedValues)."""
    spec, old_spec = new.get("spec"), old.get("spec") or {}
    if not isinstance(spec, dict) or spec.get("type") == "ExternalName":
        return new
    for key in ("clusterIP", "clusterIPs"):
        if not spec.get(key) and old_spec.get(key):
            spec[key] = old_spec[key]
    # on_update runs before defaulting: a port without protocol is TCP
    old_ports = {(p.get("port"), p.get("protocol") or "TCP"): p
                 for p in old_spec.get("ports") or []}
    if spec.get("type") not in ("NodePort", "LoadBalancer") and \
            old_spec.get("type") in ("NodePort", "LoadBalancer"):
        # leaving NodePort frees the allocated ports (kube's dropTypeDependentFields)
        allocated = {p.get("nodePort") for p in old_ports.values()}
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and port.get("nodePort") in allocated:
                port.pop("nodePort")
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        for port in spec.get("ports") or []:
            before = old_ports.get((port.get("port"), port.get("protocol") or "TCP"))
            if not port.get("nodePort") and before and before.get("nodePort"):
                port["nodePort"] = before["nodePort"]
    return new


def _validate_service_ports(spec: Json, path: str) -> list[FieldError]:
    out: list[FieldError] = []
    ports = spec.get("ports") or []
    names: set[str] = set()
    keys: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        here = f"{path}[{i}]"
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            out.append(fe.required(f"{here}.name"))
        elif name:
            out += v.check_value(f"{here}.name", name, v.dns1123_label)
            if name in names:
                out.append(fe.duplicate(f"{here}.name", name))
            names.add(name)
        out += validate_port_number(port.get("port"), f"{here}.port")
        protocol = port.get("protocol")
        if protocol not in PROTOCOLS:
            out.append(fe.not_supported(f"{here}.protocol", protocol, PROTOCOLS))
        target = port.get("targetPort")
        if isinstance(target, int):
            out += validate_port_number(target, f"{here}.targetPort")
        elif isinstance(target, str):
            out += v.check_value(f"{here}.targetPort", target, port_name_problems)
        if port.get("nodePort"):
            if spec.get("type") == "ClusterIP":
                out.append(fe.forbidden(f"{here}.nodePort",
                                        "may not be used when `type` is 'ClusterIP'"))
            else:
                out += validate_port_number(port["nodePort"], f"{here}.nodePort")
        key = (port.get("port"), protocol)
        if key in keys:
            out.append(fe.duplicate(here, {"port": key[0], "protocol": key[1]}))
        keys.add(key)
    return out


def validate_service(svc: Json, old: Json | None) -> list[FieldError]:
    out: list[FieldError] = []
    spec = dict_at(svc, "spec")
    kind = spec.get("type")
    if kind not in SERVICE_TYPES:
        out.append(fe.not_supported("spec.type", kind, SERVICE_TYPES))
    if spec.get("sessionAffinity") not in AFFINITIES:
        out.append(fe.not_supported("spec.sessionAffinity", spec.get("sessionAffinity"),
                                    AFFINITIES))
    if kind == "ExternalName":
        if not spec.get("externalName"):
            out.append(fe.required("spec.externalName"))
        else:
            out += v.check_value("spec.externalName", spec["externalName"].rstrip("."),
                                 v.dns1123_subdomain)
    elif not spec.get("ports") and spec.get("clusterIP") != "None":
        out.append(fe.required("spec.ports"))
    out += _validate_service_ports(spec, "spec.ports")
    out += v.validate_selector_map(spec.get("selector"), "spec.selector")
    if old is not None:
        old_ip = (old.get("spec") or {}).get("clusterIP")
        if old_ip and kind != "ExternalName" and spec.get("clusterIP") != old_ip:
            out.append(fe.invalid("spec.clusterIP", spec.get("clusterIP", ""),
                                  "field is immutable"))
    return out


SERVICE_COLUMNS = (
    NAME_COLUMN,
    Column("Type", description="type determines how the Service is exposed."),
    Column("Cluster-IP", description="clusterIP is the IP address of the service."),
    Column("External-IP", description="externalIPs is a list of IP addresses for which nodes "
                                      "in the cluster will also accept traffic."),
    Column("Port(s)", description="The list of ports that are exposed by this service."),
    AGE_COLUMN,
    Column("Selector", priority=1, description="Route service traffic to pods with label "
                                               "keys and values matching this selector."),
)


def format_labels(labels: Any) -> str:
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def _external_ip(spec: Json, status: Json) -> str:
    kind, external = spec.get("type"), spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        ingress = (status.get("loadBalancer") or {}).get("ingress") or []
        lb = [i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or
              i.get("hostname")]
        return ",".join(lb + external) if lb or external else "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"


def service_cells(svc: Json, now: datetime) -> list[Any]:
    spec, status = svc.get("spec") or {}, svc.get("status") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    ports = ",".join(
        f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/"
        f"{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    return [name_of(svc), spec.get("type", ""), ips[0] if ips else "<none>",
            _external_ip(spec, status), ports or "<none>", object_age(svc, now),
            format_labels(spec.get("selector"))]


objects.register(KindSpec(
    storage="services", schema=SERVICE, default=default_service, validate=validate_service,
    columns=SERVICE_COLUMNS, cells=service_cells,
    field_labels=lambda svc: {"spec.clusterIP": (svc.get("spec") or {}).get("clusterIP", ""),
                              "spec.type": (svc.get("spec") or {}).get("type", "")},
    extra={"on_update": service_on_update, "name_check": v.dns1035_label},
))

# --- Endpoints ------------------------------------------------------------------------------

ENDPOINT_ADDRESS = core("EndpointAddress", {
    "ip": string(), "hostname": string(), "nodeName": string(), "targetRef": OBJECT_REFERENCE,
}, required=("ip",))
ENDPOINTS = top_level("io.k8s.api.core.v1.Endpoints", "Endpoints is a collection of endpoints "
                      "that implement the actual service.", {
                          "subsets": Arr(items=core("EndpointSubset", {
                              "addresses": Arr(items=ENDPOINT_ADDRESS, list_type="atomic"),
                              "notReadyAddresses": Arr(items=ENDPOINT_ADDRESS,
                                                       list_type="atomic"),
                              "ports": Arr(items=core("EndpointPort", {
                                  "name": string(), "port": integer(), "protocol": string(),
                                  "appProtocol": string()}), list_type="atomic"),
                          }), list_type="atomic"),
                      })


def default_endpoints(ep: Json) -> Json:
    for subset in ep.get("subsets") or []:
        for port in subset.get("ports") or [] if isinstance(subset, dict) else []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
    return ep


def validate_endpoints(ep: Json, old: Json | None) -> list[FieldError]:
    out: list[FieldError] = []
    for i, subset in enumerate(ep.get("subsets") or []):
        for key in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(subset.get(key) or []):
                if not addr.get("ip"):
                    out.append(fe.invalid(f"subsets[{i}].{key}[{j}].ip", "",
                                          "must be a valid IP address"))
        for j, port in enumerate(subset.get("ports") or []):
            out += validate_port_number(port.get("port"), f"subsets[{i}].ports[{j}].port")
            if port.get("protocol") not in PROTOCOLS:
                out.append(fe.not_supported(f"subsets[{i}].ports[{j}].protocol",
                                            port.get("protocol"), PROTOCOLS))
    return out


def format_endpoints(ep: Json) -> str:
    """kubectl's ENDPOINTS cell: up to three ip:port, then ` + N more...`."""
    shown: list[str] = []
    count = 0
    for subset in ep.get("subsets") or []:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        targets = [f"{ip}:{p.get('port')}" if ":" not in ip else f"[{ip}]:{p.get('port')}"
                   for p in subset.get("ports") or [] for ip in addresses]
        targets = targets if subset.get("ports") else addresses
        count += len(targets)
        shown += targets[:max(0, 3 - len(shown))]
    text = ",".join(shown)
    if count > 3:
        return f"{text} + {count - 3} more..."
    return text or "<none>"


objects.register(KindSpec(
    storage="endpoints", schema=ENDPOINTS, default=default_endpoints,
    validate=validate_endpoints,
    columns=(NAME_COLUMN, Column("Endpoints", description="Endpoints of the service."),
             AGE_COLUMN),
    cells=lambda ep, now: [name_of(ep), format_endpoints(ep), object_age(ep, now)],
))
