"""stage0 end to end with a stand-in stage1: pod dir, mounts, netns, cgroups, teardown."""

from __future__ import annotations

import json
from pathlib import Path

from minikube13.runtime.pods import PodRuntime

from .stage0_support import (  # noqa: F401  (fixtures)
    data_dir_fixture,
    inputs,
    layer_fixture,
    leftovers,
    needs_root,
    pod_object,
    runtime_fixture,
)

pytestmark = needs_root


async def test_start_then_remove_leaves_nothing(runtime: PodRuntime, data_dir: Path) -> None:
    """A started pod has its dir, overlay, netns, cgroup and stage1; remove takes all away."""
    pod = pod_object()
    uid = pod["metadata"]["uid"]
    await runtime.start(pod, inputs())
    seen = leftovers(data_dir, uid)
    assert seen.mounts >= 1 and seen.netns == 1 and seen.cgroups >= 1 and seen.dirs == 1
    assert seen.processes >= 1
    [rp] = runtime.pods()
    assert rp.uid == uid and rp.alive and rp.stage1 is not None
    config = json.loads((data_dir / "pods" / uid / "containers/main/bundle/config.json")
                        .read_text())
    assert config["process"]["args"] == ["sleep", "1000"]
    assert (data_dir / "pods" / uid / "containers/main/rootfs/bin/busybox").exists()
    await runtime.stop(uid, 1.0)
    assert not runtime.pod(uid).alive  # type: ignore[union-attr]
    await runtime.remove(uid)
    assert leftovers(data_dir, uid).total == 0
    assert runtime.pods() == []
