"""stage1: the pod's PID 1 (`python -m minikube13 stage1 <pod dir>`).

stage0 starts it detached as
`setsid nsenter --net=/run/netns/m13-<uid> unshare --pid --ipc --uts --fork -- <python> -m
minikube13 stage1 <pod dir>`, so it is PID 1 of the pod's new pid/ipc/uts namespaces, in the
pod's netns, in the host mount namespace with the host's /proc.

The namespace variant that works (verified with runc 1.1.5): runc run started from inside
that pid namespace joins pid/ipc/uts by path and runs the container, BUT with the host's
/proc it records the container's pod-namespace pid and then reads /proc/<that pid> of the
HOST (`runc state` reports a wrong process or "stopped", `runc exec` fails with
"failed to open /proc/<pid>/ns/ipc"). So stage1 (`nsenv.enter_pod_mount_namespace`) first
reads its host pid and start ticks, then unshares its own mount namespace (/ made rslave:
host mounts stay visible, nothing leaks back), detaches other pods' mounts it inherited,
and mounts a procfs of the pod pid namespace on /proc. runc then works fully inside stage1
(run, state, exec, kill, delete); bundles' `/proc/STAGE1/ns/*` paths become `/proc/1/ns/*`
(stage1 as seen in that procfs — stable across stage1 restarts). From the host, use
`nsenter --target <stage1 host pid> --pid --mount -- runc --root <data-dir>/runc ...`
(`minikube13.runtime.runc.Runc.for_pod`) to exec into or signal a pod's containers;
plain host `runc delete --force` still cleans up once stage1 is gone.

Modules: supervisor (pure state machine), backoff and probing (pure rules), messages (its
events and actions), shell (the process loop), children (spawn/reap), logs (CRI log files,
journald), probes (exec/httpGet/tcpSocket handlers), exits (OOM, termination message),
nsenv (namespace set-up), entry (the command).
"""
