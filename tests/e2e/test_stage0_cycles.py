"""Done-when 7: 200 create/delete cycles leave no process, mount, cgroup, netns or dir."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import pytest

from minikube13.runtime.pods import PodRuntime

from .stage0_support import (  # noqa: F401  (fixtures)
    Leftovers,
    busybox_store_fixture,
    data_dir_fixture,
    inputs,
    leftovers,
    needs_root,
    pod_object,
    real_runtime_fixture,
    running,
    wait_for,
)

pytestmark = needs_root
CYCLES = 200


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_200_create_delete_cycles_leave_nothing(real_runtime: PodRuntime,
                                                     data_dir: Path) -> None:
    """Each cycle runs a busybox pod (real stage1 + runc, a memory emptyDir) until its
    container runs, then removes it; afterwards count what is left of every pod."""
    runtime = real_runtime
    began = time.monotonic()
    uids: list[str] = []
    start_s: list[float] = []
    running_s: list[float] = []
    for i in range(CYCLES):
        pod = pod_object(name=f"cycle-{i}",
                         volumes=[{"name": "m", "emptyDir": {"medium": "Memory"}}],
                         containers=[{"name": "c", "image": "busybox",
                                      "imagePullPolicy": "Never", "command": ["sleep", "60"],
                                      "volumeMounts": [{"name": "m", "mountPath": "/m"}]}])
        uid = pod["metadata"]["uid"]
        uids.append(uid)
        t0 = time.perf_counter()
        await runtime.start(pod, inputs())
        start_s.append(time.perf_counter() - t0)
        await wait_for(runtime, uid, running("c"))
        running_s.append(time.perf_counter() - t0)
        await runtime.remove(uid)
    total = Leftovers(0, 0, 0, 0, 0)
    for uid in uids:
        one = leftovers(data_dir, uid)
        total = Leftovers(total.processes + one.processes, total.mounts + one.mounts,
                          total.cgroups + one.cgroups, total.netns + one.netns,
                          total.dirs + one.dirs)
    assert total == Leftovers(0, 0, 0, 0, 0)
    assert runtime.pods() == []
    elapsed = time.monotonic() - began
    print(f"cycles={CYCLES} elapsed={elapsed:.1f}s "
          f"start_p50={statistics.median(start_s) * 1000:.0f}ms "
          f"running_p50={statistics.median(running_s) * 1000:.0f}ms")
    assert elapsed < 120
    await asyncio.sleep(0)
