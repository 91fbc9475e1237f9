"""The Service environment variables every container gets (the kubelet's, pure).

For each Service of the pod's namespace that has a cluster IP, plus `default/kubernetes`
(unless the namespace has a Service of that name itself), Docker-links-style variables:

    REDIS_MASTER_SERVICE_HOST=10.43.0.11     REDIS_MASTER_PORT=tcp://10.43.0.11:6379
    REDIS_MASTER_SERVICE_PORT=6379           REDIS_MASTER_PORT_6379_TCP=tcp://10.43.0.11:6379
    REDIS_MASTER_SERVICE_PORT_<NAME>=6379    REDIS_MASTER_PORT_6379_TCP_PROTO=tcp
                                             REDIS_MASTER_PORT_6379_TCP_PORT=6379
                                             REDIS_MASTER_PORT_6379_TCP_ADDR=10.43.0.11

(the first port gives SERVICE_PORT and PORT; each named port a SERVICE_PORT_<NAME>).
Headless Services (clusterIP None) give none. A container's own `env` comes after these,
so it may refer to them with $(VAR) and override them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Object = dict[str, Any]
MASTER_NAMESPACE = "default"
MASTER_SERVICE = "kubernetes"


def env_name(name: str) -> str:
    """`redis-master` -> `REDIS_MASTER`."""
    return name.upper().replace("-", "_")


def visible_services(services: Iterable[Object], namespace: str) -> list[Object]:
    """The pod's namespace's Services with a cluster IP, plus default/kubernetes, by name."""
    chosen: dict[str, Object] = {}
    for svc in services:
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        ip = spec.get("clusterIP") or ""
        if not ip or ip == "None":
            continue
        name, ns = meta.get("name", ""), meta.get("namespace", "")
        if ns == namespace:
            chosen[name] = svc
        elif ns == MASTER_NAMESPACE and name == MASTER_SERVICE:
            chosen.setdefault(name, svc)
    return [chosen[name] for name in sorted(chosen)]


def service_env(services: Iterable[Object], namespace: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for svc in visible_services(services, namespace):
        env.update(_variables(svc))
    return env


def _variables(svc: Object) -> dict[str, str]:
    name = env_name(svc["metadata"]["name"])
    spec = svc["spec"]
    ip = spec["clusterIP"]
    ports = spec.get("ports") or []
    out = {f"{name}_SERVICE_HOST": ip}
    if ports:
        out[f"{name}_SERVICE_PORT"] = str(ports[0].get("port", ""))
    for port in ports:
        if port.get("name"):
            out[f"{name}_SERVICE_PORT_{env_name(port['name'])}"] = str(port.get("port", ""))
    for i, port in enumerate(ports):
        proto = str(port.get("protocol") or "TCP").lower()
        number = str(port.get("port", ""))
        url = f"{proto}://[{ip}]:{number}" if ":" in ip else f"{proto}://{ip}:{number}"
        if i == 0:
            out[f"{name}_PORT"] = url
        prefix = f"{name}_PORT_{number}_{proto.upper()}"
        out.update({prefix: url, f"{prefix}_PROTO": proto, f"{prefix}_PORT": number,
                    f"{prefix}_ADDR": ip})
    return out
