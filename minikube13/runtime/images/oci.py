"""OCI and Docker image formats: media types, platform choice, and writing an OCI image
layout (what the `rootfs/` recipes produce)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from minikube13.runtime.images.model import ImageError, sha256_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
         "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def host_arch() -> str:
    """This machine's architecture as OCI spells it (amd64, arm64, ...)."""
    machine = platform.machine()
    return _ARCH.get(machine, machine)


def kind_of(manifest: dict[str, Any], media_type: str = "") -> str:
    """"index" for an OCI index / Docker manifest list, "manifest" for an image manifest.
    The Content-Type decides, then the document's mediaType, then its shape (OCI makes
    mediaType optional; some registries answer application/json)."""
    for mt in (media_type.split(";")[0].strip(), manifest.get("mediaType", "")):
        if mt in INDEX_TYPES:
            return "index"
        if mt in MANIFEST_TYPES:
            return "manifest"
        if "manifest.v1" in mt:
            break
    else:
        if manifest.get("schemaVersion") == 2 and "manifests" in manifest:
            return "index"
        if manifest.get("schemaVersion") == 2 and "layers" in manifest:
            return "manifest"
    raise ImageError(f"unsupported manifest type {media_type or manifest.get('mediaType')!r}")


def pick_platform(index: dict[str, Any], arch: str | None = None) -> dict[str, Any]:
    """The descriptor in an index for linux/<arch> (this host's by default)."""
    arch = arch or host_arch()
    candidates = [d for d in index.get("manifests", [])
                  if (d.get("platform") or {}).get("os", "linux") == "linux"
                  and (d.get("platform") or {}).get("architecture", arch) == arch]
    if not candidates:
        raise ImageError(f"no linux/{arch} image in the manifest list")
    return candidates[0]


def canonical_json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def write_blob(layout: Path, data: bytes) -> dict[str, Any]:
    """Store `data` under layout/blobs/sha256 and return its (media-type-less) descriptor."""
    digest = sha256_digest(data)
    path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def write_layout(layout: Path, layers: list[tuple[bytes, str]], config: dict[str, Any],
                 names: list[str]) -> str:
    """Write an OCI image layout holding one image: `layers` are (blob, diff id) bottom to
    top (gzip or plain tar), `names` full references (`docker.io/library/busybox:latest`);
    each is listed in index.json with its tag as ref.name. Returns the manifest digest."""
    config = {**config, "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]}}
    layer_descs = [{"mediaType": OCI_LAYER_GZIP if blob[:2] == b"\x1f\x8b" else OCI_LAYER,
                    **write_blob(layout, blob)} for blob, _ in layers]
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, **write_blob(layout, canonical_json(config))},
                "layers": layer_descs}
    desc = {"mediaType": OCI_MANIFEST, **write_blob(layout, canonical_json(manifest))}
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {**desc, "annotations": {REF_NAME: name.rsplit(":", 1)[1], CONTAINERD_NAME: name}}
        for name in names]}
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    tmp = layout / "index.json.tmp"
    tmp.write_bytes(canonical_json(index))
    os.replace(tmp, layout / "index.json")
    return str(desc["digest"])
