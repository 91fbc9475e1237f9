"""`minikube13 stage1 <pod dir>`: set up the pod's namespaces, then run the process loop.

Imported by the fast path in `minikube13/__main__.py`: no click, aiohttp or API imports here
(stage1's start-up time is part of every pod's start time).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from minikube13.runtime.poddir import PodDir
from minikube13.runtime.runc import Runc
from minikube13.runtime.stage1.nsenv import (
    NamespaceError,
    enter_pod_mount_namespace,
    host_identity,
    set_hostname,
)
from minikube13.runtime.stage1.shell import Shell

log = logging.getLogger(__name__)

USAGE = "usage: minikube13 stage1 POD_DIR  (run by stage0 as PID 1 of the pod's namespaces)"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr if argv[:1] != ["--help"] else sys.stdout)
        return 0 if argv[:1] == ["--help"] else 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started_at = time.time()
    pd = PodDir(Path(argv[0]).resolve())
    plan = pd.read_plan()
    if plan is None:
        log.error("no plan pod_dir=%s", pd.root)
        return 1
    if os.getpid() != 1:
        # Elsewhere /proc/1/ns/* would be the host's init: containers must not join those.
        log.error("stage1 must be PID 1 of a new pid namespace pid=%d", os.getpid())
        return 2
    try:
        identity = host_identity()
        host_proc = enter_pod_mount_namespace(pd.root, plan.netns)
        set_hostname(plan.hostname)
    except (OSError, NamespaceError) as e:
        log.error("namespace set-up failed error=%s", e)
        return 1
    os.chdir("/")
    log.info("stage1 started uid=%s host_pid=%d", plan.uid, identity[0])
    runc = Runc.for_data_dir(pd.root.parent.parent)
    return Shell(pd, plan, runc, identity, host_proc, started_at).run()
