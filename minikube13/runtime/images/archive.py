"""Read images out of what `import` accepts: an OCI image layout directory, an OCI archive
(a tar of a layout) and a `docker save` archive. Each becomes an ImageSource the store adds."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from minikube13.runtime.images import oci
from minikube13.runtime.images.model import ImageError, check_digest, sha256_digest
from minikube13.runtime.images.reference import parse_reference

OpenFile = Callable[[str], IO[bytes]]  # a path inside the layout or archive


@dataclass(frozen=True)
class ImageSource:
    """One image to add: its manifest and config documents and how to read each layer.
    `verify_blobs` is False where the layer files are not the manifest's blobs (docker save)."""

    names: list[str]
    manifest: bytes
    config: bytes
    open_layer: Callable[[int], BinaryIO]
    verify_blobs: bool = True


@contextmanager
def image_sources(path: Path) -> Iterator[list[ImageSource]]:
    """The images held by `path` (layout dir, OCI archive or docker-save tar)."""
    stem = path.name.split(".")[0] or "image"
    if path.is_dir():
        if not (path / "oci-layout").exists():
            raise ImageError(f"{path} is not an OCI image layout (no oci-layout file)")
        yield _layout_sources(lambda name: (path / name).open("rb"), stem)
        return
    try:
        tar = tarfile.open(path, "r:*")
    except (OSError, tarfile.TarError) as e:
        raise ImageError(f"cannot read {path}: {e}") from e
    with tar:
        names = {m.name.removeprefix("./") for m in tar.getmembers()}
        opener = _tar_opener(tar)
        if "oci-layout" in names and "index.json" in names:
            yield _layout_sources(opener, stem)
        elif "manifest.json" in names:
            yield _docker_save_sources(opener)
        else:
            raise ImageError(f"{path} is neither an OCI archive nor a docker-save archive")


def _tar_opener(tar: tarfile.TarFile) -> OpenFile:
    def open_member(name: str) -> IO[bytes]:
        for candidate in (name, f"./{name}"):
            try:
                f = tar.extractfile(candidate)
            except KeyError:
                continue
            if f is not None:
                return f
        raise ImageError(f"archive has no file {name}")
    return open_member


def _read(open_file: OpenFile, name: str) -> bytes:
    try:
        with open_file(name) as f:
            return f.read()
    except OSError as e:
        raise ImageError(f"cannot read {name}: {e}") from e


def _json(data: bytes, what: str) -> Any:
    """Any JSON value (docker save's manifest.json is a list)."""
    try:
        return json.loads(data)
    except ValueError as e:
        raise ImageError(f"{what} is not valid JSON: {e}") from e


def _blob_path(digest: str) -> str:
    return "blobs/" + check_digest(digest).replace(":", "/", 1)


def _verified_blob(open_file: OpenFile, digest: str) -> bytes:
    data = _read(open_file, _blob_path(digest))
    if sha256_digest(data) != digest:
        raise ImageError(f"blob {digest} does not match its digest")
    return data


def _layout_sources(open_file: OpenFile, stem: str) -> list[ImageSource]:
    index = _json(_read(open_file, "index.json"), "index.json")
    by_digest: dict[str, tuple[bytes, list[str]]] = {}
    for desc in index.get("manifests", []):
        data = _verified_blob(open_file, desc["digest"])
        doc = _json(data, "manifest")
        if oci.kind_of(doc, desc.get("mediaType", "")) == "index":
            inner = oci.pick_platform(doc)
            data = _verified_blob(open_file, inner["digest"])
        digest = sha256_digest(data)
        entry = by_digest.setdefault(digest, (data, []))
        name = _layout_name(desc.get("annotations") or {}, stem)
        if name and name not in entry[1]:
            entry[1].append(name)
    return [_layout_source(open_file, data, names) for data, names in by_digest.values()]


def _layout_name(annotations: dict[str, str], stem: str) -> str:
    """The image name of an index entry. The standard ref.name wins: a full reference as
    is, a bare tag on the repository of containerd's name annotation (tools such as umoci
    copy that annotation to new tags), else on the layout's file name."""
    full = annotations.get(oci.CONTAINERD_NAME, "")
    ref = annotations.get(oci.REF_NAME, "")
    if ref and ("/" in ref or ":" in ref):
        full = ref
    elif ref:
        repository = parse_reference(full).name if full else stem
        full = f"{repository}:{ref}"
    return parse_reference(full).tagged if full else ""


def _layout_source(open_file: OpenFile, manifest: bytes, names: list[str]) -> ImageSource:
    doc = _json(manifest, "manifest")
    config = _verified_blob(open_file, doc["config"]["digest"])
    layers = [d["digest"] for d in doc.get("layers", [])]

    def open_layer(i: int) -> BinaryIO:
        return open_file(_blob_path(layers[i]))  # type: ignore[return-value]
    return ImageSource(names=names, manifest=manifest, config=config, open_layer=open_layer)


def _docker_save_sources(open_file: OpenFile) -> list[ImageSource]:
    entries = _json(_read(open_file, "manifest.json"), "manifest.json")
    return [_docker_save_source(open_file, entry) for entry in entries]


def _docker_save_source(open_file: OpenFile, entry: dict[str, Any]) -> ImageSource:
    """docker save keeps configs and uncompressed layer tars but no manifest: synthesise
    a Docker v2 manifest whose layer digests are the diff ids."""
    config = _read(open_file, entry["Config"])
    doc = _json(config, "image config")
    diff_ids = list((doc.get("rootfs") or {}).get("diff_ids") or [])
    paths = list(entry.get("Layers") or [])
    if len(paths) != len(diff_ids):
        raise ImageError("docker-save archive: layer count does not match the config")
    manifest = oci.canonical_json({
        "schemaVersion": 2, "mediaType": oci.DOCKER_MANIFEST,
        "config": {"mediaType": oci.DOCKER_CONFIG, "digest": sha256_digest(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar",
                    "digest": check_digest(d), "size": 0} for d in diff_ids]})
    names = [parse_reference(tag).tagged for tag in entry.get("RepoTags") or []]

    def open_layer(i: int) -> BinaryIO:
        return open_file(paths[i])  # type: ignore[return-value]
    return ImageSource(names=names, manifest=manifest, config=config, open_layer=open_layer,
                       verify_blobs=False)
