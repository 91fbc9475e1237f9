"""The content-addressed image store under `<data-dir>/images`:

    blobs/sha256/<hex>    manifests and configs, named by their digest
    layers/sha256/<hex>   each layer unpacked once, named by its diff id (overlay lowerdirs)
    index.json            the images: names, manifest digest, config id, layers, pinned
    lock                  fcntl lock held around every index write; reads take no lock
    tmp/                  downloads and unpacks in progress (renamed into place)
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from minikube13.runtime.images.archive import ImageSource, image_sources
from minikube13.runtime.images.layers import unpack_layer
from minikube13.runtime.images.model import (
    Image,
    ImageConfig,
    ImageError,
    RegistryAuth,
    check_digest,
    parse_document,
    sha256_digest,
)
from minikube13.runtime.images.reference import image_id_of, parse_reference

log = logging.getLogger(__name__)

GC_GRACE_S = 600.0
_SHORT_ID = re.compile(r"^[0-9a-f]{12,64}$")  # a layer unpacked this recently may belong to a pull not yet registered


class ImageStore:
    """Images on disk, shared by the daemon and the CLI (both as root)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._cache: tuple[tuple[int, int, int], list[Image]] | None = None

    # ---- paths
    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / check_digest(digest).split(":", 1)[1]

    def layer_path(self, diff_id: str) -> Path:
        return self.root / "layers" / "sha256" / check_digest(diff_id).split(":", 1)[1]

    def has_layer(self, diff_id: str) -> bool:
        return self.layer_path(diff_id).is_dir()

    def tmp_dir(self) -> Path:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ---- reading (lock-free: the index is replaced atomically)
    def images(self) -> list[Image]:
        """Every image, in the order they were added."""
        path = self.root / "index.json"
        try:
            st = path.stat()
        except FileNotFoundError:
            return []
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, [Image.from_json(r) for r in _load(path)["images"]])
        return list(self._cache[1])

    def resolve(self, ref: str) -> Image | None:
        """The image `ref` names (`busybox`, `host:5000/a/b:1`, `name@sha256:..`,
        `sha256:<id>`), or None. InvalidReference when `ref` cannot name an image."""
        images = self.images()
        image_id = image_id_of(ref)
        if image_id:
            return next((i for i in images if image_id in (i.id, i.digest)), None)
        parsed = parse_reference(ref)
        if parsed.digest:
            return next((i for i in images if i.digest == parsed.digest), None)
        found = next((i for i in images if parsed.tagged in i.names), None)
        if found is None and _SHORT_ID.match(ref):
            matches = [i for i in images if i.id.startswith(f"sha256:{ref}")]
            found = matches[0] if len(matches) == 1 else None
        return found

    def layer_dirs(self, image: Image) -> list[Path]:
        """The unpacked layers bottom to top (overlayfs wants lowerdirs top first)."""
        dirs = [self.layer_path(d) for d in image.layers]
        missing = [str(d) for d in dirs if not d.is_dir()]
        if missing:
            raise ImageError(f"image {image.id} lacks unpacked layers: {', '.join(missing)}")
        return dirs

    # ---- adding
    def import_path(self, path: Path) -> list[Image]:
        """Import every image in an OCI layout dir, OCI archive or docker-save tar; the
        images are pinned (never pulled again)."""
        with image_sources(Path(path)) as sources:
            return [self._add_source(source) for source in sources]

    def _add_source(self, source: ImageSource) -> Image:
        manifest = parse_document(source.manifest, "manifest")
        config = parse_document(source.config, "image config")
        diff_ids = _diff_ids(manifest, config)
        for i, (desc, diff_id) in enumerate(zip(manifest["layers"], diff_ids, strict=True)):
            if not self.has_layer(diff_id):
                with source.open_layer(i) as stream:
                    blob = desc["digest"] if source.verify_blobs else ""
                    self.unpack(stream, diff_id, blob)
        return self.register(source.manifest, source.config, source.names, pinned=True)

    def unpack(self, stream: BinaryIO, diff_id: str, blob_digest: str = "") -> Path:
        """Unpack one layer into layers/sha256/<diff id> (via a temp dir and a rename)."""
        final = self.layer_path(diff_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="layer-", dir=self.tmp_dir()))
        try:
            unpack_layer(stream, work / "root", diff_id=diff_id, blob_digest=blob_digest)
            try:
                os.rename(work / "root", final)
            except OSError:
                if not final.is_dir():  # another process won the race: theirs is as good
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.info("layer unpacked diff_id=%s", diff_id)
        return final

    def register(self, manifest: bytes, config: bytes, names: Sequence[str], *,
                 pinned: bool) -> Image:
        """Record an image whose layers are unpacked; `names` (full `name:tag`) move to it."""
        doc, cfg = parse_document(manifest, "manifest"), parse_document(config, "image config")
        config_id = sha256_digest(config)
        if doc.get("config", {}).get("digest") != config_id:
            raise ImageError("image config does not match the manifest's config digest")
        layers = _diff_ids(doc, cfg)
        if not all(self.has_layer(d) for d in layers):
            raise ImageError("image layers are not all unpacked")
        for data in (manifest, config):
            self._write_blob(data)
        digest = sha256_digest(manifest)
        size = len(config) + sum(int(d.get("size", 0)) for d in doc["layers"])
        with self._locked_index() as records:
            old = next((r for r in records if r["digest"] == digest), None)
            keep = [n for n in (old["names"] if old else []) if n not in names]
            for r in records:
                r["names"] = [n for n in r["names"] if n not in names]
            image = Image(names=keep + list(dict.fromkeys(names)), digest=digest,
                          id=config_id, config=ImageConfig.from_oci(cfg), size=size,
                          pinned=pinned or bool(old and old["pinned"]), layers=layers)
            records[:] = [r for r in records if r["digest"] != digest] + [image.to_json()]
        log.info("image stored digest=%s names=%s pinned=%s", digest, ",".join(names), pinned)
        return image

    def _write_blob(self, data: bytes) -> None:
        path = self.blob_path(sha256_digest(data))
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    async def pull(self, ref: str, auth: RegistryAuth | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   allowed: Sequence[str] = ("*",)) -> Image:
        """Pull `ref` from its Docker Registry v2 registry (digests verified)."""
        from minikube13.runtime.images.registry import pull_image
        return await pull_image(self, ref, auth=auth, progress=progress, allowed=allowed)

    # ---- removing
    def remove(self, ref: str, in_use: set[str]) -> None:
        """Remove a name (the image goes with its last name) or, given an id or digest,
        the image. `in_use` holds the refs, ids or digests pods use: ImageError "in use"."""
        image = self.resolve(ref)
        if image is None:
            raise ImageError(f"image {ref} not found")
        if any(self._same(u, image) for u in in_use):
            raise ImageError(f"image {ref} is in use by a pod")
        name = "" if image_id_of(ref) else parse_reference(ref).tagged
        name = name if name in image.names else ""  # else by id or digest: the whole image
        if not name or image.names == [name]:
            self._refuse_mounted(image)
        with self._locked_index() as records:
            for r in records:
                if r["digest"] == image.digest:
                    r["names"] = [n for n in r["names"] if name and n != name]
            records[:] = [r for r in records if r["digest"] != image.digest or r["names"]]
            self._collect(records, set(image.layers))
        log.info("image removed ref=%s digest=%s", ref, image.digest)

    def prune(self, in_use: set[str]) -> list[Image]:
        """Remove images without a name that no pod uses; return them."""
        gone = [i for i in self.images()
                if not i.names and not any(self._same(u, i) for u in in_use)]
        for image in gone:
            self.remove(image.id, in_use)
        return gone

    def _refuse_mounted(self, image: Image) -> None:
        """A layer only this image holds that an overlay still mounts is in use, whatever
        the caller's `in_use` says (a pod the caller does not know about)."""
        others = {d for i in self.images() if i.digest != image.digest for d in i.layers}
        own = {str(self.layer_path(d)) for d in image.layers if d not in others}
        if own & mounted_lowerdirs():
            raise ImageError(f"image {image.id} is in use by a mounted container root")

    def _same(self, ref: str, image: Image) -> bool:
        if ref in (image.id, image.digest):
            return True
        try:
            found = self.resolve(ref)
        except ImageError:
            return False
        return found is not None and found.digest == image.digest

    def _collect(self, records: list[dict[str, Any]], dropped: set[str]) -> None:
        """Delete blobs and layers no image references (called under the lock); a recent
        layer no image ever held may belong to a pull in progress and stays."""
        dropped = {d.split(":", 1)[1] for d in dropped}
        blobs = {d.split(":", 1)[1] for r in records for d in (r["digest"], r["id"])}
        layers = {d.split(":", 1)[1] for r in records for d in r["layers"]}
        for kind, keep in (("blobs", blobs), ("layers", layers)):
            base = self.root / kind / "sha256"
            for path in base.iterdir() if base.is_dir() else []:
                recent = time.time() - path.lstat().st_ctime < GC_GRACE_S
                if path.name in keep or (kind == "layers" and recent
                                         and path.name not in dropped):
                    continue
                shutil.rmtree(path) if path.is_dir() else path.unlink()

    @contextmanager
    def _locked_index(self) -> Iterator[list[dict[str, Any]]]:
        """The index's image records, to change in place; written back atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = self.root / "index.json"
            records: list[dict[str, Any]] = _load(path)["images"] if path.exists() else []
            yield records
            fd, tmp = tempfile.mkstemp(dir=self.tmp_dir(), prefix="index-")
            with os.fdopen(fd, "w") as f:
                json.dump({"images": records}, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)


def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return parse_document(f.read(), str(path))


def mounted_lowerdirs(mountinfo: Path = Path("/proc/self/mountinfo")) -> set[str]:
    """Every overlayfs lowerdir mounted in this mount namespace."""
    found: set[str] = set()
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        _, _, after = line.partition(" - ")
        fields = after.split(" ")
        if len(fields) >= 3 and fields[0] == "overlay":
            for option in fields[2].split(","):
                if option.startswith("lowerdir="):
                    found.update(option[len("lowerdir="):].split(":"))
    return found


def _diff_ids(manifest: dict[str, Any], config: dict[str, Any]) -> list[str]:
    diff_ids = [check_digest(d) for d in (config.get("rootfs") or {}).get("diff_ids") or []]
    if len(diff_ids) != len(manifest.get("layers") or []):
        raise ImageError("the manifest's layers and the config's diff ids differ in number")
    return diff_ids
