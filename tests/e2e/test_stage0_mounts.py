"""Host mounts stage0 makes: overlay roots (also with very many layers) and tmpfs."""

from __future__ import annotations

import os
from pathlib import Path

from minikube13.runtime import mounts

from .stage0_support import needs_root

pytestmark = needs_root


def test_overlay_with_sixty_long_named_layers(tmp_path: Path) -> None:
    """Options longer than a page still mount (lowerdirs by fd); the top layer wins."""
    layers = []
    for i in range(60):
        layer = tmp_path / ("layer-" + "x" * 60 + f"-{i:03d}")
        layer.mkdir()
        (layer / f"f{i}").write_text(str(i))
        layers.append(layer)
    (layers[5] / "same").write_text("low")
    (layers[50] / "same").write_text("high")
    target = tmp_path / "root"
    try:
        mounts.mount_overlay(layers, tmp_path / "upper", tmp_path / "work", target)
        assert mounts.is_mounted(target)
        assert len(os.listdir(target)) == 61 and (target / "same").read_text() == "high"
        (target / "new").write_text("w")
        assert (tmp_path / "upper" / "new").read_text() == "w"
    finally:
        mounts.umount_under(tmp_path)
    assert mounts.mounts_under(tmp_path) == []


def test_tmpfs_with_size_and_umount_under(tmp_path: Path) -> None:
    """A sized tmpfs refuses more than its size; umount_under removes stacked mounts."""
    target = tmp_path / "mem"
    try:
        mounts.mount_tmpfs(target, 1 << 20)
        mounts.mount_tmpfs(target / "inner", None)
        assert os.statvfs(target).f_blocks * os.statvfs(target).f_frsize == 1 << 20
        assert len(mounts.mounts_under(tmp_path)) == 2
    finally:
        assert mounts.umount_under(tmp_path) == 2
    assert mounts.mounts_under(tmp_path) == [] and not mounts.is_mounted(target)
