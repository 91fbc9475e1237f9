"""core/v1 volume sources, shared by pod volumes and PersistentVolumes.

The sources people use on bare metal and in the docs (emptyDir, hostPath, secret, configMap,
persistentVolumeClaim, downwardAPI, projected, nfs, local, csi...) are modelled; cloud and
legacy plugins are kept as they come (AnyValue) so valid manifests are never refused.
"""

from __future__ import annotations

from typing import Any

from minikube13.model import errors as fe
from minikube13.model import validation as v
from minikube13.model.errors import FieldError
from minikube13.model.groups.core_container import (
    OBJECT_FIELD_SELECTOR,
    RESOURCE_FIELD_SELECTOR,
    core,
)
from minikube13.model.groups.meta import INT64, LOCAL_OBJECT_REFERENCE, STRING_MAP
from minikube13.model.schema import AnyValue, Arr, Quantity, Schema, boolean, integer, string

KEY_TO_PATH = core("KeyToPath", {"key": string(), "path": string(), "mode": integer()},
                   required=("key", "path"))
KEY_ITEMS = Arr(items=KEY_TO_PATH, list_type="atomic")
SECRET_REFERENCE = core("SecretReference", {"name": string(), "namespace": string()})
DOWNWARD_FILE = core("DownwardAPIVolumeFile", {
    "path": string(), "fieldRef": OBJECT_FIELD_SELECTOR,
    "resourceFieldRef": RESOURCE_FIELD_SELECTOR, "mode": integer(),
}, required=("path",))
DOWNWARD_ITEMS = Arr(items=DOWNWARD_FILE, list_type="atomic")

HOST_PATH = core("HostPathVolumeSource", {"path": string(), "type": string()},
                 required=("path",))
NFS = core("NFSVolumeSource", {"server": string(), "path": string(), "readOnly": boolean()},
           required=("server", "path"))
CSI_PV = core("CSIPersistentVolumeSource", {
    "driver": string(), "volumeHandle": string(), "readOnly": boolean(), "fsType": string(),
    "volumeAttributes": STRING_MAP, "controllerPublishSecretRef": SECRET_REFERENCE,
    "nodeStageSecretRef": SECRET_REFERENCE, "nodePublishSecretRef": SECRET_REFERENCE,
    "controllerExpandSecretRef": SECRET_REFERENCE, "nodeExpandSecretRef": SECRET_REFERENCE,
}, required=("driver", "volumeHandle"))

# Plugins kept verbatim: valid in Kubernetes, unused on a bare-metal node.
_OPAQUE_SOURCES = (
    "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "fc", "flexVolume",
    "flocker", "gcePersistentDisk", "glusterfs", "iscsi", "photonPersistentDisk",
    "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos", "vsphereVolume",
)

PROJECTION = core("VolumeProjection", {
    "secret": core("SecretProjection", {"name": string(), "items": KEY_ITEMS,
                                        "optional": boolean()}),
    "configMap": core("ConfigMapProjection", {"name": string(), "items": KEY_ITEMS,
                                              "optional": boolean()}),
    "downwardAPI": core("DownwardAPIProjection", {"items": DOWNWARD_ITEMS}),
    "serviceAccountToken": core("ServiceAccountTokenProjection", {
        "audience": string(), "expirationSeconds": INT64, "path": string()},
        required=("path",)),
    "clusterTrustBundle": AnyValue(),
})

VOLUME_SOURCES: dict[str, Schema] = {
    "emptyDir": core("EmptyDirVolumeSource", {"medium": string(), "sizeLimit": Quantity()}),
    "hostPath": HOST_PATH,
    "secret": core("SecretVolumeSource", {
        "secretName": string(), "items": KEY_ITEMS, "defaultMode": integer(),
        "optional": boolean()}),
    "configMap": core("ConfigMapVolumeSource", {
        "name": string(), "items": KEY_ITEMS, "defaultMode": integer(), "optional": boolean()}),
    "persistentVolumeClaim": core("PersistentVolumeClaimVolumeSource", {
        "claimName": string(), "readOnly": boolean()}, required=("claimName",)),
    "downwardAPI": core("DownwardAPIVolumeSource", {
        "items": DOWNWARD_ITEMS, "defaultMode": integer()}),
    "projected": core("ProjectedVolumeSource", {
        "sources": Arr(items=PROJECTION, list_type="atomic"), "defaultMode": integer()}),
    "nfs": NFS,
    "gitRepo": core("GitRepoVolumeSource", {
        "repository": string(), "revision": string(), "directory": string()},
        required=("repository",)),
    "csi": core("CSIVolumeSource", {
        "driver": string(), "readOnly": boolean(), "fsType": string(),
        "volumeAttributes": STRING_MAP, "nodePublishSecretRef": LOCAL_OBJECT_REFERENCE},
        required=("driver",)),
    "ephemeral": core("EphemeralVolumeSource", {"volumeClaimTemplate": AnyValue()}),
    "image": core("ImageVolumeSource", {"reference": string(), "pullPolicy": string()}),
    **{name: AnyValue() for name in _OPAQUE_SOURCES},
}

VOLUME = core("Volume", {
    "name": string("name of the volume. Must be a DNS_LABEL and unique within the pod."),
    **VOLUME_SOURCES,
}, "Volume represents a named volume in a pod that may be accessed by any container in the "
   "pod.", ("name",))

PV_SOURCES: dict[str, Schema] = {
    "hostPath": HOST_PATH, "nfs": NFS, "csi": CSI_PV,
    "local": core("LocalVolumeSource", {"path": string(), "fsType": string()},
                  required=("path",)),
    **{name: AnyValue() for name in _OPAQUE_SOURCES},
}

_MODED = ("secret", "configMap", "downwardAPI", "projected")
DEFAULT_MODE = 0o644  # 420, what the apiserver writes into defaultMode


def default_volume(volume: dict[str, Any]) -> dict[str, Any]:
    """A volume with no source becomes an emptyDir; file-based sources get defaultMode 420."""
    if not any(key in volume for key in VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for key in _MODED:
        if isinstance(volume.get(key), dict):
            volume[key].setdefault("defaultMode", DEFAULT_MODE)
    if isinstance(volume.get("hostPath"), dict):
        volume["hostPath"].setdefault("type", "")
    return volume


def validate_volumes(volumes: list[Any], path: str) -> tuple[set[str], list[FieldError]]:
    """Names unique DNS labels, exactly one source each; returns (names, errors)."""
    names: set[str] = set()
    out: list[FieldError] = []
    for i, volume in enumerate(volumes):
        if not isinstance(volume, dict):
            continue
        here = f"{path}[{i}]"
        name = volume.get("name") or ""
        if not name:
            out.append(fe.required(f"{here}.name"))
        else:
            out += v.check_value(f"{here}.name", name, v.dns1123_label)
            if name in names:
                out.append(fe.duplicate(f"{here}.name", name))
            names.add(name)
        sources = [key for key in VOLUME_SOURCES if key in volume]
        if len(sources) > 1:
            out.append(fe.forbidden(f"{here}.{sources[1]}",
                                    "may not specify more than 1 volume type"))
        out += _validate_source(volume, here)
    return names, out


def _validate_source(volume: dict[str, Any], path: str) -> list[FieldError]:
    out: list[FieldError] = []
    host = volume.get("hostPath")
    if isinstance(host, dict) and not host.get("path"):
        out.append(fe.required(f"{path}.hostPath.path"))
    claim = volume.get("persistentVolumeClaim")
    if isinstance(claim, dict) and not claim.get("claimName"):
        out.append(fe.required(f"{path}.persistentVolumeClaim.claimName"))
    secret = volume.get("secret")
    if isinstance(secret, dict) and not secret.get("secretName"):
        out.append(fe.required(f"{path}.secret.secretName"))
    for key in _MODED:
        mode = (volume.get(key) or {}).get("defaultMode") if isinstance(
            volume.get(key), dict) else None
        if isinstance(mode, int) and not 0 <= mode <= 0o777:
            out.append(fe.invalid(f"{path}.{key}.defaultMode", mode,
                                  "must be a number between 0 and 0777 (octal), both inclusive"))
    return out


ACCESS_MODES = ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]


def validate_access_modes(modes: Any, path: str) -> list[FieldError]:
    if not modes:
        return [fe.required(path)]
    return [fe.not_supported(f"{path}", m, ACCESS_MODES) for m in modes
            if m not in ACCESS_MODES]


