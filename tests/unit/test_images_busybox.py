"""The busybox base image recipe (rootfs/busybox/build.py): reproducible, and a usable
userland once imported."""

from __future__ import annotations

import importlib.util
import os
import stat
from pathlib import Path
from types import ModuleType

import pytest

from minikube13.runtime.images import ImageStore

RECIPE = Path(__file__).resolve().parents[2] / "rootfs" / "busybox" / "build.py"


@pytest.fixture(scope="module")
def recipe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("busybox_build", RECIPE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_is_reproducible(recipe: ModuleType, tmp_path: Path) -> None:
    """Two builds from the same busybox give byte-identical layouts (same digests)."""
    first = recipe.build(tmp_path / "a.oci")
    second = recipe.build(tmp_path / "b.oci")
    assert first == second
    for path in (tmp_path / "a.oci").rglob("*"):
        twin = tmp_path / "b.oci" / path.relative_to(tmp_path / "a.oci")
        assert path.is_dir() or path.read_bytes() == twin.read_bytes()


def test_busybox_image_contents(recipe: ModuleType, tmp_path: Path) -> None:
    """Named busybox:latest and busybox:<Debian version>; sh, passwd, group, tmp, root."""
    recipe.build(tmp_path / "busybox.oci")
    store = ImageStore(tmp_path / "images")
    [image] = store.import_path(tmp_path / "busybox.oci")
    version = recipe.debian_version()
    assert image.names == ["docker.io/library/busybox:latest",
                           f"docker.io/library/busybox:{version}"]
    assert image.config.cmd == ["sh"] and image.config.env[0].startswith("PATH=")
    [root] = store.layer_dirs(image)
    assert os.readlink(root / "bin/sh") == "/bin/busybox"
    assert os.access(root / "bin/busybox", os.X_OK)
    assert os.path.islink(root / "usr/bin/env")
    assert (root / "etc/passwd").read_text().startswith("root:x:0:0:")
    assert "nobody:x:65534" in (root / "etc/passwd").read_text()
    assert "root:x:0:" in (root / "etc/group").read_text()
    assert (root / "etc/hosts").exists()
    assert stat.S_IMODE(os.stat(root / "tmp").st_mode) == 0o1777
    assert stat.S_IMODE(os.stat(root / "root").st_mode) == 0o700
