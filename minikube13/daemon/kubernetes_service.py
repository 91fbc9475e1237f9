"""The `default/kubernetes` Service and its Endpoints, kept by a server as the apiserver does.

Pods reach the API at 10.43.0.1:443 (the reserved first address of the service range; the
KUBERNETES_SERVICE_HOST/PORT variables every container gets point there), which the node's
service rules send to this server's API. The Service is made once; its Endpoints are
rewritten when this server's address or port is not the one they list.
"""

from __future__ import annotations

import logging
from typing import Any

from minikube13.model import kinds
from minikube13.registry.allocation import ServiceRanges, kubernetes_service
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import WriteOptions

log = logging.getLogger(__name__)

Object = dict[str, Any]


async def ensure_kubernetes_service(registry: ObjectRegistry, service_cidr: str,
                                    address: str, port: int) -> None:
    """Create the Service if missing; make its Endpoints name this server (ip:port)."""
    services = kinds.find("", "v1", "services")
    endpoints = kinds.find("", "v1", "endpoints")
    assert services is not None and endpoints is not None
    svc, eps = kubernetes_service(ServiceRanges.parse(service_cidr), [address], port)
    await _create_if_missing(registry, services, svc)
    try:
        current = (await registry.get(endpoints, "default", "kubernetes")).object
    except StatusError as err:
        if err.code != 404:
            raise
        await _create_if_missing(registry, endpoints, eps)
        return
    if current.get("subsets") != eps["subsets"]:
        eps["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        await registry.update(endpoints, "default", "kubernetes", eps, WriteOptions())
        log.info("kubernetes service endpoints address=%s port=%d", address, port)


async def _create_if_missing(registry: ObjectRegistry, info: kinds.ResourceInfo,
                             obj: Object) -> None:
    try:
        await registry.create(info, "default", obj, WriteOptions())
    except StatusError as err:
        if err.code != 409:
            raise
