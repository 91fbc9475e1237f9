"""The OCI config.json stage0 writes for each container (pure bundle builder)."""

from __future__ import annotations

from typing import Any

import pytest

from minikube13.runtime.bundle import (
    DEFAULT_CAPS,
    BundleSpec,
    bind,
    build_config,
    capabilities,
    caps_from_mask,
    resources,
    user_of,
)
from minikube13.runtime.errors import PodRuntimeError
from minikube13.runtime.podenv import ImageDefaults, PodFacts

PASSWD = "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"
GROUP = "root:x:0:\nstaff:x:50:\n"


def spec_of(container: dict[str, Any], pod_spec: dict[str, Any] | None = None,
            image: ImageDefaults | None = None, **kw: Any) -> BundleSpec:
    pod = {"metadata": {"name": "web", "namespace": "ns1", "uid": "u1",
                        "labels": {"app": "web"}},
           "spec": {"containers": [container], **(pod_spec or {})}}
    return BundleSpec(
        pod=pod, container=container,
        image=image or ImageDefaults(entrypoint=("/entry",), cmd=("serve",),
                                     env=("PATH=/bin", "IMG=1")),
        facts=PodFacts(secrets={"s": {"k": "c2VjcmV0"}}, config_maps={"cm": {"k": "cmval"}},
                       node_name="n1", host_ip="10.0.0.1", pod_ip="10.1.0.5"),
        rootfs="/pods/u1/containers/c/rootfs", netns="/run/netns/m13-u1",
        cgroups_path="/minikube13/podu1/c", hostname="web",
        termination_log="/pods/u1/containers/c/termination-log",
        passwd=PASSWD, group=GROUP, **kw)


def config(container: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return build_config(spec_of({"name": "c", **container}, **kw))


def env_of(cfg: dict[str, Any]) -> dict[str, str]:
    return dict(e.split("=", 1) for e in cfg["process"]["env"])


def test_image_entrypoint_and_cmd_when_pod_sets_neither() -> None:
    """No command or args: the image's ENTRYPOINT + CMD run."""
    assert config({})["process"]["args"] == ["/entry", "serve"]


def test_args_replace_cmd_only() -> None:
    """args alone keep the image ENTRYPOINT and drop its CMD."""
    assert config({"args": ["a", "b"]})["process"]["args"] == ["/entry", "a", "b"]


def test_command_replaces_entrypoint_and_cmd() -> None:
    """command drops both the image ENTRYPOINT and CMD; args follow it."""
    cfg = config({"command": ["sh", "-c"], "args": ["echo hi"]})
    assert cfg["process"]["args"] == ["sh", "-c", "echo hi"]


def test_command_expands_env_references() -> None:
    """$(VAR) expands from the env; $$ escapes; unknown references stay literal."""
    cfg = config({"command": ["echo", "$(GREETING)", "$$(GREETING)", "$(NOPE)"],
                  "env": [{"name": "GREETING", "value": "hi"}]})
    assert cfg["process"]["args"] == ["echo", "hi", "$(GREETING)", "$(NOPE)"]


def test_no_command_anywhere_is_a_config_error() -> None:
    """An image without ENTRYPOINT/CMD and a pod without command cannot run."""
    with pytest.raises(PodRuntimeError) as e:
        build_config(spec_of({"name": "c"}, image=ImageDefaults()))
    assert e.value.reason == "CreateContainerConfigError"


def test_env_merges_image_env_with_container_env() -> None:
    """Container env overrides image env of the same name; HOSTNAME is the pod's."""
    env = env_of(config({"env": [{"name": "IMG", "value": "2"},
                                 {"name": "B", "value": "$(IMG)-x"}]}))
    assert env["IMG"] == "2" and env["B"] == "2-x" and env["PATH"] == "/bin"
    assert env["HOSTNAME"] == "web"


def test_env_default_path_when_image_has_none() -> None:
    """An image without PATH gets the usual default."""
    env = env_of(build_config(spec_of({"name": "c"}, image=ImageDefaults(cmd=("x",)))))
    assert env["PATH"].startswith("/usr/local/sbin:")


def test_env_value_from_fields_secrets_config_maps_resources() -> None:
    """valueFrom: downward API fields, secret and config map keys, resource fields."""
    env = env_of(config({
        "resources": {"limits": {"memory": "64Mi", "cpu": "1500m"}},
        "env": [
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
            {"name": "LABELS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}},
            {"name": "SEC", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {
                "resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        ]}))
    assert (env["NAME"], env["NS"], env["UID"], env["NODE"]) == ("web", "ns1", "u1", "n1")
    assert (env["IP"], env["HOST"], env["LABELS"]) == ("10.1.0.5", "10.0.0.1", 'app="web"')
    assert (env["SEC"], env["CM"], env["MEM"], env["CPU"]) == ("secret", "cmval", "64", "2")


@pytest.mark.parametrize("source, text", [
    ({"secretKeyRef": {"name": "nope", "key": "k"}}, 'secret "nope" not found'),
    ({"secretKeyRef": {"name": "s", "key": "nope"}}, "couldn't find key nope in Secret ns1/s"),
    ({"configMapKeyRef": {"name": "cm", "key": "x"}}, "couldn't find key x in ConfigMap"),
    ({"fieldRef": {"fieldPath": "spec.bogus"}}, "unsupported fieldRef"),
])
def test_missing_reference_is_create_container_config_error(source: dict[str, Any],
                                                            text: str) -> None:
    """A missing secret, config map or key stops the container with the kubelet's reason."""
    with pytest.raises(PodRuntimeError) as e:
        config({"env": [{"name": "X", "valueFrom": source}]})
    assert e.value.reason == "CreateContainerConfigError" and text in e.value.message


def test_working_dir_from_container_then_image_then_root() -> None:
    """workingDir wins over the image's WorkingDir; "/" when neither says."""
    assert config({"workingDir": "/w"})["process"]["cwd"] == "/w"
    img = ImageDefaults(cmd=("x",), working_dir="/img")
    assert build_config(spec_of({"name": "c"}, image=img))["process"]["cwd"] == "/img"
    assert config({})["process"]["cwd"] == "/"


def test_user_from_security_context_container_over_pod() -> None:
    """runAsUser: the container's wins over the pod's; gid from passwd; fsGroup added."""
    cfg = config({"securityContext": {"runAsUser": 1000}},
                 pod_spec={"securityContext": {"runAsUser": 5, "fsGroup": 7,
                                               "supplementalGroups": [8]}})
    assert cfg["process"]["user"] == {"uid": 1000, "gid": 1001, "additionalGids": [8, 7]}
    assert config({}, pod_spec={"securityContext": {"runAsUser": 5}})["process"]["user"] == {
        "uid": 5, "gid": 0}


@pytest.mark.parametrize("image_user, expected", [
    ("", (0, 0)), ("app", (1000, 1001)), ("1000", (1000, 1001)), ("42", (42, 0)),
    ("app:staff", (1000, 50)), ("app:9", (1000, 9)),
])
def test_image_user_by_name_or_number(image_user: str, expected: tuple[int, int]) -> None:
    """The image USER is looked up in the rootfs's /etc/passwd and /etc/group."""
    user = user_of({}, image_user, {}, PASSWD, GROUP)
    assert (user["uid"], user["gid"]) == expected


def test_unknown_image_user_and_run_as_non_root() -> None:
    """An unknown user name, or root with runAsNonRoot, is a config error."""
    for security, image_user in (({}, "ghost"), ({"runAsNonRoot": True}, "")):
        with pytest.raises(PodRuntimeError):
            user_of(security, image_user, {}, PASSWD, GROUP)


def test_default_capabilities_and_add_drop() -> None:
    """containerd's default set; add/drop with or without the CAP_ prefix; drop ALL."""
    caps = capabilities({})["bounding"]
    assert set(caps) == {f"CAP_{c}" for c in DEFAULT_CAPS}
    changed = capabilities({"capabilities": {"add": ["NET_ADMIN"], "drop": ["CAP_KILL"]}})
    assert "CAP_NET_ADMIN" in changed["bounding"] and "CAP_KILL" not in changed["effective"]
    assert capabilities({"capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}})["bounding"] == []


def test_unprivileged_defaults_seccomp_masked_paths_no_new_privs() -> None:
    """Unprivileged: seccomp deny list, masked /proc paths, noNewPrivileges, deny devices."""
    cfg = config({})
    linux = cfg["linux"]
    assert cfg["process"]["noNewPrivileges"] is True
    denied = linux["seccomp"]["syscalls"][0]["names"]
    assert {"kexec_load", "reboot", "init_module", "mount"} <= set(denied)
    assert "/proc/kcore" in linux["maskedPaths"] and "/proc/sys" in linux["readonlyPaths"]
    assert linux["resources"]["devices"] == [{"allow": False, "access": "rwm"}]


def test_sys_admin_lifts_the_mount_denials() -> None:
    """CAP_SYS_ADMIN added: mount & co. are not denied by seccomp (as docker does)."""
    cfg = config({"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}})
    denied = cfg["linux"]["seccomp"]["syscalls"][0]["names"]
    assert "mount" not in denied and "kexec_load" in denied


def test_privileged_gets_all_caps_devices_and_no_seccomp() -> None:
    """privileged: every capability, all devices, no seccomp, no masked paths."""
    cfg = config({"securityContext": {"privileged": True}})
    assert "CAP_SYS_ADMIN" in cfg["process"]["capabilities"]["bounding"]
    assert cfg["process"]["noNewPrivileges"] is False
    assert "seccomp" not in cfg["linux"] and "maskedPaths" not in cfg["linux"]
    assert cfg["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


def test_capabilities_limited_to_the_hosts_bounding_set() -> None:
    """Capabilities the host cannot hand on are left out (privileged or added)."""
    host = caps_from_mask(int("1fffeffffff", 16))   # every cap but SYS_RESOURCE (24)
    assert "SYS_RESOURCE" not in host and "SYS_ADMIN" in host
    privileged = capabilities({"privileged": True}, host)["bounding"]
    assert "CAP_SYS_RESOURCE" not in privileged and "CAP_SYS_ADMIN" in privileged
    added = capabilities({"capabilities": {"add": ["SYS_RESOURCE"]}}, host)["bounding"]
    assert "CAP_SYS_RESOURCE" not in added and "CAP_CHOWN" in added


def test_read_only_root_filesystem() -> None:
    """readOnlyRootFilesystem makes root.readonly true."""
    assert config({"securityContext": {"readOnlyRootFilesystem": True}})["root"] == {
        "path": "/pods/u1/containers/c/rootfs", "readonly": True}


def test_namespaces_join_stage1_and_the_netns_by_path() -> None:
    """pid/ipc/uts by the STAGE1 token path, network by the netns file, mount new."""
    assert config({})["linux"]["namespaces"] == [
        {"type": "pid", "path": "/proc/STAGE1/ns/pid"},
        {"type": "ipc", "path": "/proc/STAGE1/ns/ipc"},
        {"type": "uts", "path": "/proc/STAGE1/ns/uts"},
        {"type": "network", "path": "/run/netns/m13-u1"},
        {"type": "mount"},
    ]
    cfg = config({})
    assert cfg["linux"]["cgroupsPath"] == "/minikube13/podu1/c"
    assert "hostname" not in cfg and cfg["process"]["terminal"] is False


def test_resources_shares_quota_memory_pids() -> None:
    """requests.cpu → shares (min 2), limits.cpu → quota/100ms period, memory, pids."""
    res = resources({"resources": {"requests": {"cpu": "250m"},
                                   "limits": {"cpu": "500m", "memory": "128Mi"}}}, 100, False)
    assert res["cpu"] == {"shares": 256, "quota": 50000, "period": 100000}
    assert res["memory"] == {"limit": 128 * 1024 * 1024} and res["pids"] == {"limit": 100}
    assert resources({}, 4096, False)["cpu"] == {"shares": 2}
    assert resources({"resources": {"requests": {"cpu": "1m"}}}, 1, False)["cpu"]["shares"] == 2
    assert resources({"resources": {"limits": {"cpu": "2"}}}, 1, False)["cpu"]["shares"] == 2048


def test_invalid_quantity_is_a_config_error() -> None:
    """A malformed quantity in resources cannot become a cgroup limit."""
    with pytest.raises(PodRuntimeError):
        resources({"resources": {"limits": {"memory": "lots"}}}, 1, False)


def test_mounts_defaults_then_extra_then_termination_log() -> None:
    """proc, /dev, devpts, shm, mqueue, sysfs ro, cgroup; then etc/volumes; then the
    termination log at terminationMessagePath."""
    cfg = build_config(spec_of({"name": "c", "terminationMessagePath": "/tmp/msg"},
                               mounts=[bind("/etc/hosts", "/h"), bind("/data", "/v", True)]))
    dests = [m["destination"] for m in cfg["mounts"]]
    assert dests == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
                     "/sys/fs/cgroup", "/etc/hosts", "/data", "/tmp/msg"]
    by_dest = {m["destination"]: m for m in cfg["mounts"]}
    assert "ro" in by_dest["/sys"]["options"] and "ro" in by_dest["/data"]["options"]
    assert by_dest["/tmp/msg"]["source"] == "/pods/u1/containers/c/termination-log"
    default = build_config(spec_of({"name": "c"}))["mounts"][-1]
    assert default["destination"] == "/dev/termination-log"
