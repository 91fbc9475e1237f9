"""The image store on disk: layer unpacking (whiteouts, digests, unsafe paths), imports of
OCI layouts, OCI archives and docker-save archives, names, removal and garbage."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from minikube13.runtime.images import ImageError, ImageStore
from minikube13.runtime.images.layers import OPAQUE_XATTR
from minikube13.runtime.images.model import sha256_digest
from minikube13.runtime.images.oci import (
    OCI_INDEX,
    OCI_MANIFEST,
    canonical_json,
    host_arch,
    write_blob,
    write_layout,
)
from minikube13.runtime.images.store import mounted_lowerdirs

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="mknod and trusted xattrs need root")
Entry = tuple[str, str, object]  # (name, kind, payload)


def layer(*entries: Entry) -> bytes:
    """A layer tar: kind "f" (payload bytes), "d", "l" (symlink target), "h" (hard link)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            info.mtime, info.mode, info.uid, info.gid = 1_000_000, 0o644, 1000, 1001
            if kind == "d":
                info.type, info.mode = tarfile.DIRTYPE, 0o750
            elif kind in ("l", "h"):
                info.type = tarfile.SYMTYPE if kind == "l" else tarfile.LNKTYPE
                info.linkname = str(payload)
            data = payload if kind == "f" else b""
            assert isinstance(data, bytes)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def unpack(store: ImageStore, blob: bytes, diff_id: str = "", digest: str = "") -> Path:
    diff_id = diff_id or sha256_digest(blob)
    return store.unpack(io.BytesIO(blob), diff_id, digest)


def image_layout(path: Path, layers: list[bytes], names: list[str]) -> Path:
    write_layout(path, [(b, sha256_digest(b)) for b in layers],
                 {"architecture": "amd64", "os": "linux",
                  "config": {"Entrypoint": ["/app"], "Env": ["A=1"], "User": "nobody",
                             "WorkingDir": "/w"}}, names)
    return path


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


@root_only
def test_whiteouts_become_overlayfs_markers(store: ImageStore) -> None:
    """`.wh.x` becomes a 0:0 char device x; `.wh..wh..opq` the opaque xattr."""
    blob = layer(("etc", "d", None), ("etc/.wh.hosts", "f", b""),
                 ("var/cache/.wh..wh..opq", "f", b""), ("var/cache/new", "f", b"n"))
    root = unpack(store, blob)
    st = os.lstat(root / "etc/hosts")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert not (root / "etc/.wh.hosts").exists()
    assert os.getxattr(root / "var/cache", OPAQUE_XATTR) == b"y"
    assert os.listdir(root / "var/cache") == ["new"]


@root_only
def test_owners_modes_links_are_kept(store: ImageStore) -> None:
    """Owners, modes, mtimes, symlinks and hard links are as in the tar; later wins."""
    blob = layer(("bin", "d", None), ("bin/tool", "f", b"v1"), ("bin/tool", "f", b"v2"),
                 ("bin/alias", "h", "bin/tool"), ("bin/sh", "l", "/bin/busybox"))
    root = unpack(store, blob)
    assert (root / "bin/tool").read_bytes() == b"v2"
    st = os.stat(root / "bin/tool")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_mtime) == (
        1000, 1001, 0o644, 1_000_000)
    assert os.stat(root / "bin/alias").st_ino == st.st_ino
    assert os.readlink(root / "bin/sh") == "/bin/busybox"
    assert stat.S_IMODE(os.stat(root / "bin").st_mode) == 0o750


def test_diff_id_mismatch_is_refused_and_leaves_nothing(store: ImageStore) -> None:
    """A layer whose content does not hash to its diff id is not kept."""
    blob = layer(("a", "f", b"x"))
    with pytest.raises(ImageError, match="diff id mismatch"):
        unpack(store, blob, diff_id=sha256_digest(b"other"))
    assert not list(store.root.glob("layers/sha256/*"))
    assert not list(store.root.glob("tmp/*"))


def test_blob_digest_is_checked_on_compressed_bytes(store: ImageStore) -> None:
    """gzip layers: the blob digest covers the gzip bytes, the diff id the tar."""
    tar = layer(("a", "f", b"x"))
    gz = gzip.compress(tar, mtime=0)
    with pytest.raises(ImageError, match="blob digest mismatch"):
        unpack(store, gz, sha256_digest(tar), sha256_digest(gz + b"junk"))
    root = unpack(store, gz, sha256_digest(tar), sha256_digest(gz))
    assert (root / "a").read_bytes() == b"x"


@pytest.mark.parametrize("entries", [
    [("../evil", "f", b"x")],
    [("a/../../evil", "f", b"x")],
    [("link", "l", "/etc"), ("link/passwd", "f", b"x")],
    [("h", "h", "../outside")],
])
def test_entries_cannot_leave_the_layer(store: ImageStore, entries: list[Entry]) -> None:
    """`..` and writes through symlinks are refused (no write outside the layer)."""
    with pytest.raises(ImageError):
        unpack(store, layer(*entries))
    assert not list(store.root.glob("layers/sha256/*"))


def test_import_layout_names_config_and_resolve(store: ImageStore, tmp_path: Path) -> None:
    """An OCI layout imports pinned, with its names, run config and layers bottom→top."""
    base, top = layer(("a", "f", b"1")), layer(("b", "f", b"2"))
    path = image_layout(tmp_path / "app.oci", [base, top],
                        ["example.com/team/app:1", "example.com/team/app:latest"])
    [image] = store.import_path(path)
    assert image.names == ["example.com/team/app:1", "example.com/team/app:latest"]
    assert image.pinned and image.config.entrypoint == ["/app"]
    assert (image.config.env, image.config.user, image.config.working_dir) == (
        ["A=1"], "nobody", "/w")
    dirs = store.layer_dirs(image)
    assert [d.name for d in dirs] == [sha256_digest(base)[7:], sha256_digest(top)[7:]]
    for ref in ("example.com/team/app", "example.com/team/app:1", image.id, image.id[7:],
                image.id[7:19], f"example.com/team/app@{image.digest}", image.digest):
        assert store.resolve(ref) == image, ref
    assert store.resolve("example.com/team/app:2") is None
    assert store.resolve("busybox") is None
    assert store.images() == [image]


def test_archives_oci_and_docker_save(store: ImageStore, tmp_path: Path) -> None:
    """An OCI archive and a docker-save tar import; a shared layer is unpacked once."""
    shared = layer(("lib", "f", b"shared"))
    layout = image_layout(tmp_path / "x.oci", [shared], ["docker.io/library/x:1"])
    oci_tar = tmp_path / "x.tar"
    with tarfile.open(oci_tar, "w") as tar:
        tar.add(layout, arcname=".")
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [
                             sha256_digest(shared), sha256_digest(layer(("y", "f", b"")))]}
                         }).encode()
    docker_tar = tmp_path / "y.tar"
    with tarfile.open(docker_tar, "w") as tar:
        for name, data in (("cfg.json", config), ("l1/layer.tar", shared),
                           ("l2/layer.tar", layer(("y", "f", b""))),
                           ("manifest.json", json.dumps([{
                               "Config": "cfg.json", "RepoTags": ["y:2"],
                               "Layers": ["l1/layer.tar", "l2/layer.tar"]}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    [x] = store.import_path(oci_tar)
    [y] = store.import_path(docker_tar)
    assert x.names == ["docker.io/library/x:1"] and y.names == ["docker.io/library/y:2"]
    assert y.id == sha256_digest(config) and y.config.cmd == ["sh"]
    assert store.layer_dirs(x)[0] == store.layer_dirs(y)[0]
    assert len(list(store.root.glob("layers/sha256/*"))) == 2


def test_corrupted_layout_is_refused(store: ImageStore, tmp_path: Path) -> None:
    """A layout whose blob does not match its digest imports nothing."""
    path = image_layout(tmp_path / "bad.oci", [layer(("a", "f", b"1"))], ["bad:1"])
    index = json.loads((path / "index.json").read_text())
    blob = path / "blobs/sha256" / index["manifests"][0]["digest"][7:]
    blob.write_bytes(blob.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion": 2'))
    with pytest.raises(ImageError, match="does not match"):
        store.import_path(path)
    assert store.images() == []
    with pytest.raises(ImageError, match="not an OCI image layout"):
        store.import_path(tmp_path)


def test_names_move_and_removal(store: ImageStore, tmp_path: Path) -> None:
    """A tag moves to the newer image; removal untags, refuses images in use, and drops
    layers no image holds any more."""
    one = store.import_path(image_layout(tmp_path / "a", [layer(("v", "f", b"1"))],
                                         ["app:1", "app:latest"]))[0]
    two = store.import_path(image_layout(tmp_path / "b", [layer(("v", "f", b"2"))],
                                         ["app:latest"]))[0]
    assert store.resolve("app").digest == two.digest  # type: ignore[union-attr]
    assert store.resolve("app:1").names == ["docker.io/library/app:1"]  # type: ignore[union-attr]
    for in_use in ({one.id}, {one.digest}, {"app:1"}, {f"app@{one.digest}"}):
        with pytest.raises(ImageError, match="in use"):
            store.remove("app:1", in_use)
    store.remove("app:1", {"app:latest"})
    assert [i.digest for i in store.images()] == [two.digest]
    assert not store.layer_path(one.layers[0]).exists()
    store.remove(two.id[7:19], set())
    assert store.images() == [] and not list(store.root.glob("blobs/sha256/*"))
    with pytest.raises(ImageError, match="not found"):
        store.remove("app", set())


def test_prune_removes_unnamed_images(store: ImageStore, tmp_path: Path) -> None:
    """An image that lost its last name is pruned unless a pod uses it."""
    old = store.import_path(image_layout(tmp_path / "a", [layer(("v", "f", b"1"))],
                                         ["app:1"]))[0]
    store.import_path(image_layout(tmp_path / "b", [layer(("v", "f", b"2"))], ["app:1"]))
    assert store.prune({old.id}) == []
    assert [i.digest for i in store.prune(set())] == [old.digest]
    assert [i.names for i in store.images()] == [["docker.io/library/app:1"]]


def test_mounted_lowerdirs(tmp_path: Path) -> None:
    """Overlay lowerdirs are read from mountinfo (the store's last guard on removal)."""
    info = tmp_path / "mountinfo"
    info.write_text(
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "2 1 0:5 / /p/rootfs rw,relatime shared:9 - overlay overlay "
        "rw,lowerdir=/s/layers/sha256/bb:/s/layers/sha256/aa,upperdir=/u,workdir=/w\n")
    assert mounted_lowerdirs(info) == {"/s/layers/sha256/bb", "/s/layers/sha256/aa"}


def test_layout_with_a_nested_index_picks_this_platform(store: ImageStore,
                                                        tmp_path: Path) -> None:
    """An index.json entry that is itself an index imports the linux/<this arch> image."""
    path = image_layout(tmp_path / "multi.oci", [layer(("a", "f", b"1"))], ["multi:1"])
    index = json.loads((path / "index.json").read_text())
    desc = index["manifests"][0]
    inner = write_blob(path, canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                             "manifests": [{
                                                 "mediaType": OCI_MANIFEST,
                                                 "digest": desc["digest"],
                                                 "size": desc["size"],
                                                 "platform": {"os": "linux",
                                                              "architecture": host_arch()}}]}))
    index["manifests"] = [{"mediaType": OCI_INDEX, **inner, "annotations": desc["annotations"]}]
    (path / "index.json").write_bytes(canonical_json(index))
    [image] = store.import_path(path)
    assert image.digest == desc["digest"] and image.names == ["docker.io/library/multi:1"]


def test_concurrent_imports_share_one_layer(store: ImageStore, tmp_path: Path) -> None:
    """Imports racing in threads (two stores on one root) end with one layer, all names."""
    shared = layer(("big", "f", b"x" * 100_000))
    paths = [image_layout(tmp_path / f"i{n}.oci", [shared], [f"img{n}:1"]) for n in range(6)]
    stores = [store, ImageStore(store.root)]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda n: stores[n % 2].import_path(paths[n]), range(6)))
    assert sorted(n for i in store.images() for n in i.names) == [
        f"docker.io/library/img{n}:1" for n in range(6)]
    assert len(list(store.root.glob("layers/sha256/*"))) == 1
    assert not list(store.root.glob("tmp/*"))
