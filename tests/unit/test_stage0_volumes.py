"""Volume planning: what each volume is on the host, its files, and the container binds."""

from __future__ import annotations

from typing import Any

import pytest

from minikube13.runtime.errors import PodRuntimeError
from minikube13.runtime.podenv import PodFacts
from minikube13.runtime.volumes import (
    VolumeFile,
    VolumePlan,
    container_mounts,
    plan_volumes,
    safe_path,
    sub_paths,
)

FACTS = PodFacts(secrets={"creds": {"user": "YWRtaW4=", "pass": "czNjcjN0"}},
                 config_maps={"conf": {"a.conf": "x=1", "b.conf": "y=2"}})


def pod(*volumes: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ns1", "uid": "u1",
                         "labels": {"b": "2", "a": "1"}, "annotations": {"note": 'say "hi"'}},
            "spec": {"volumes": list(volumes), "containers": []}}


def vdir(name: str) -> str:
    return f"/pods/u1/volumes/{name}"


def test_empty_dir_on_disk_and_in_memory() -> None:
    """emptyDir is a dir; medium Memory is a tmpfs sized by sizeLimit."""
    plans = plan_volumes(pod({"name": "d", "emptyDir": {}},
                             {"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                             {"name": "n", "emptyDir": {"medium": "Memory"}}), FACTS)
    assert plans == [VolumePlan("d", "dir"), VolumePlan("m", "tmpfs", size_bytes=1 << 20),
                     VolumePlan("n", "tmpfs")]


def test_host_path_binds_the_host_directory() -> None:
    """hostPath volumes bind the host path itself."""
    [plan] = plan_volumes(pod({"name": "h", "hostPath": {"path": "/srv/data"}}), FACTS)
    assert plan == VolumePlan("h", "host", host_path="/srv/data")
    container = {"name": "c", "volumeMounts": [{"name": "h", "mountPath": "/data"}]}
    [m] = container_mounts(container, [plan], vdir)
    assert (m.destination, m.source, m.options) == ("/data", "/srv/data", ("rbind", "rprivate"))


def test_secret_all_keys_decoded_with_default_mode() -> None:
    """A secret volume holds every key, base64-decoded, mode 0644 (or defaultMode)."""
    [plan] = plan_volumes(pod({"name": "s", "secret": {"secretName": "creds"}}), FACTS)
    assert plan.files == (VolumeFile("pass", b"s3cr3t", 0o644), VolumeFile("user", b"admin"))
    [plan] = plan_volumes(pod({"name": "s", "secret": {"secretName": "creds",
                                                       "defaultMode": 0o400}}), FACTS)
    assert {f.mode for f in plan.files} == {0o400}


def test_config_map_items_pick_keys_paths_modes() -> None:
    """items choose keys, their relative paths and modes."""
    vol = {"name": "c", "configMap": {"name": "conf", "items": [
        {"key": "a.conf", "path": "sub/app.conf", "mode": 0o600}]}}
    [plan] = plan_volumes(pod(vol), FACTS)
    assert plan.files == (VolumeFile("sub/app.conf", b"x=1", 0o600),)


@pytest.mark.parametrize("volume", [
    {"name": "s", "secret": {"secretName": "nope"}},
    {"name": "c", "configMap": {"name": "nope"}},
    {"name": "c", "configMap": {"name": "conf", "items": [{"key": "zzz", "path": "z"}]}},
    {"name": "c", "configMap": {"name": "conf", "items": [{"key": "a.conf", "path": "../x"}]}},
])
def test_missing_sources_and_bad_paths_are_config_errors(volume: dict[str, Any]) -> None:
    """A missing secret/config map/key or an escaping path: CreateContainerConfigError."""
    with pytest.raises(PodRuntimeError) as e:
        plan_volumes(pod(volume), FACTS)
    assert e.value.reason == "CreateContainerConfigError"


def test_downward_api_files() -> None:
    """downwardAPI items: labels/annotations as sorted key="value" lines, name, namespace."""
    vol = {"name": "info", "downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}
    [plan] = plan_volumes(pod(vol), FACTS)
    files = {f.path: f.data for f in plan.files}
    assert files == {"labels": b'a="1"\nb="2"', "annotations": b'note="say \\"hi\\""',
                     "name": b"web", "ns": b"ns1"}


def test_unsupported_volume_type() -> None:
    """Volume types this node cannot provide fail with CreateContainerError."""
    with pytest.raises(PodRuntimeError) as e:
        plan_volumes(pod({"name": "p", "persistentVolumeClaim": {"claimName": "x"}}), FACTS)
    assert e.value.reason == "CreateContainerError" and "persistentVolumeClaim" in e.value.message


def test_mounts_read_only_and_sub_path() -> None:
    """readOnly adds ro; subPath binds a directory inside the volume (made by stage0)."""
    plans = [VolumePlan("d", "dir")]
    container = {"name": "c", "volumeMounts": [
        {"name": "d", "mountPath": "/ro", "readOnly": True},
        {"name": "d", "mountPath": "/sub", "subPath": "x/y"}]}
    ro, sub = container_mounts(container, plans, vdir)
    assert ro.source == vdir("d") and "ro" in ro.options
    assert sub.source == vdir("d") + "/x/y" and "ro" not in sub.options
    assert sub_paths([container], plans, vdir) == [vdir("d") + "/x/y"]


def test_mount_of_unknown_volume() -> None:
    """A volumeMount naming no volume of the pod is a config error."""
    with pytest.raises(PodRuntimeError):
        container_mounts({"name": "c", "volumeMounts": [{"name": "x", "mountPath": "/x"}]},
                         [], vdir)


@pytest.mark.parametrize("path", ["", "/abs", "a/../../b", ".."])
def test_safe_path_refuses_escapes(path: str) -> None:
    """Volume file paths stay inside the volume."""
    with pytest.raises(PodRuntimeError):
        safe_path(path)
