"""Importing images made by real tools (skopeo's docker-archive and oci-archive, umoci's
layered layouts) and reading them through a real overlayfs mount."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from minikube13.runtime.images import ImageStore
from minikube13.runtime.images.model import sha256_digest
from minikube13.runtime.images.oci import write_layout

from .images_support import build_busybox

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod, mounts)")


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("layout") / "busybox.oci"
    build_busybox(out)
    return out


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def _config_digest(layout: Path) -> str:
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:])
                          .read_text())
    return str(manifest["config"]["digest"])


@contextmanager
def overlay(store: ImageStore, ref: str, mnt: Path) -> Iterator[Path]:
    """The image's layers mounted read-only as overlayfs sees them in a container."""
    image = store.resolve(ref)
    assert image is not None
    lower = ":".join(str(p) for p in reversed(store.layer_dirs(image)))
    mnt.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower}", str(mnt)],
                   check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_skopeo_docker_archive_and_oci_archive(layout: Path, tmp_path: Path,
                                               store: ImageStore) -> None:
    """docker-save and OCI archives made by skopeo import as the same image, one layer."""
    docker_tar, oci_tar = tmp_path / "docker.tar", tmp_path / "oci.tar"
    for dest in (f"docker-archive:{docker_tar}:example.com/tools/busybox:1",
                 f"oci-archive:{oci_tar}:busybox:2"):
        subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout}:latest", dest],
                       check=True, capture_output=True, timeout=60)
    [from_docker] = store.import_path(docker_tar)
    [from_oci] = store.import_path(oci_tar)
    assert from_docker.names == ["example.com/tools/busybox:1"]
    assert from_oci.names == ["docker.io/library/busybox:2"]
    assert from_docker.id == from_oci.id == _config_digest(layout)
    assert from_docker.pinned and from_oci.pinned
    assert store.layer_dirs(from_docker) == store.layer_dirs(from_oci)
    assert len(list((store.root / "layers/sha256").iterdir())) == 1


def test_umoci_whiteouts_hide_files_under_overlayfs(layout: Path, tmp_path: Path,
                                                    store: ImageStore) -> None:
    """A file and a directory's contents deleted in an upper layer (umoci repack) are gone
    in the mounted image; the rest of busybox still runs."""
    img = tmp_path / "app.oci"
    subprocess.run(["cp", "-a", str(layout), str(img)], check=True)
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{img}:latest", str(bundle)], check=True,
                   capture_output=True)
    (bundle / "rootfs/etc/hosts").unlink()
    subprocess.run(["rm", "-rf", str(bundle / "rootfs/usr/sbin")], check=True)
    (bundle / "rootfs/usr/sbin").mkdir()
    (bundle / "rootfs/usr/sbin/newtool").write_text("new\n")
    subprocess.run(["umoci", "repack", "--image", f"{img}:v2", str(bundle)], check=True,
                   capture_output=True)
    images = store.import_path(img)
    assert store.resolve("busybox:latest") == store.resolve(str(layout.name.split(".")[0]))
    assert "docker.io/library/busybox:v2" in {n for i in images for n in i.names}
    with overlay(store, "busybox:v2", tmp_path / "mnt") as root:
        assert not (root / "etc/hosts").exists()
        assert (root / "etc/passwd").exists()
        assert sorted(os.listdir(root / "usr/sbin")) == ["newtool"]
        out = subprocess.run(["chroot", str(root), "/bin/sh", "-c", "echo ok"],
                             capture_output=True, text=True, check=True)
        assert out.stdout == "ok\n"


def _tar(entries: list[tuple[str, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_opaque_directory_under_overlayfs(tmp_path: Path, store: ImageStore) -> None:
    """`.wh..wh..opq` hides everything the lower layers had in that directory."""
    base = _tar([("data", None), ("data/old", b"old"), ("keep", b"k")])
    top = _tar([("data", None), ("data/.wh..wh..opq", b""), ("data/new", b"new")])
    write_layout(tmp_path / "opq.oci", [(base, sha256_digest(base)), (top, sha256_digest(top))],
                 {"architecture": "amd64", "os": "linux"}, ["example.com/opq:1"])
    store.import_path(tmp_path / "opq.oci")
    with overlay(store, "example.com/opq:1", tmp_path / "mnt") as root:
        assert sorted(os.listdir(root / "data")) == ["new"]
        assert (root / "keep").read_bytes() == b"k"
