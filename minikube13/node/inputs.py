"""What a pod needs from the API besides itself (pure): the secrets and config maps it names,
and the registry credentials of its imagePullSecrets, decoded."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

Object = dict[str, Any]

DOCKER_CONFIG_JSON = ".dockerconfigjson"
DOCKER_CFG = ".dockercfg"


def _containers(spec: Object) -> list[Object]:
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def referenced_names(pod: Object) -> tuple[set[str], set[str]]:
    """(secret names, config map names) the pod's volumes, env and envFrom refer to."""
    spec = pod.get("spec") or {}
    secrets: set[str] = set()
    config_maps: set[str] = set()
    for volume in spec.get("volumes") or []:
        if (volume.get("secret") or {}).get("secretName"):
            secrets.add(volume["secret"]["secretName"])
        if (volume.get("configMap") or {}).get("name"):
            config_maps.add(volume["configMap"]["name"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (source.get("secret") or {}).get("name"):
                secrets.add(source["secret"]["name"])
            if (source.get("configMap") or {}).get("name"):
                config_maps.add(source["configMap"]["name"])
    for container in _containers(spec):
        for env in container.get("env") or []:
            ref = env.get("valueFrom") or {}
            if (ref.get("secretKeyRef") or {}).get("name"):
                secrets.add(ref["secretKeyRef"]["name"])
            if (ref.get("configMapKeyRef") or {}).get("name"):
                config_maps.add(ref["configMapKeyRef"]["name"])
        for source in container.get("envFrom") or []:
            if (source.get("secretRef") or {}).get("name"):
                secrets.add(source["secretRef"]["name"])
            if (source.get("configMapRef") or {}).get("name"):
                config_maps.add(source["configMapRef"]["name"])
    return secrets, config_maps


def pull_secret_names(pod: Object) -> list[str]:
    spec = pod.get("spec") or {}
    return [ref["name"] for ref in spec.get("imagePullSecrets") or [] if ref.get("name")]


def pull_auth(secrets: list[Object]) -> list[dict[str, Any]]:
    """The decoded `.dockerconfigjson` / `.dockercfg` payloads of these secrets, in order;
    an undecodable one is skipped (the pull then fails like an anonymous one)."""
    out: list[dict[str, Any]] = []
    for secret in secrets:
        data = secret.get("data") or {}
        for key in (DOCKER_CONFIG_JSON, DOCKER_CFG):
            if key not in data:
                continue
            try:
                payload = json.loads(base64.b64decode(data[key]))
            except (ValueError, binascii.Error):
                continue
            if isinstance(payload, dict):
                out.append(payload)
    return out


def secret_data(secret: Object) -> dict[str, str]:
    """A secret's data (base64 values, as in the API); stringData is merged by the server."""
    return dict(secret.get("data") or {})


def config_map_data(config_map: Object) -> dict[str, str]:
    """A config map's data; binaryData values (base64) are left out."""
    return {k: str(v) for k, v in (config_map.get("data") or {}).items()}
