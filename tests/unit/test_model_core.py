"""core/v1 admission: defaults, validation messages with field paths, strict decoding."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikube13.model import kinds, objects
from minikube13.model.errors import BadRequest
from minikube13.testing.admission import admit, messages


def info(plural: str) -> kinds.ResourceInfo:
    found = kinds.find("", "v1", plural)
    assert found is not None
    return found


POD, SVC, NS, RC = (info(p) for p in ("pods", "services", "namespaces",
                                      "replicationcontrollers"))


def pod(**spec: Any) -> dict[str, Any]:
    base = {"containers": [{"name": "app", "image": "busybox"}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default"}, "spec": base}


def test_pod_defaults_match_the_apiserver() -> None:
    """A bare pod comes back with the apiserver's defaults and status Pending."""
    out = admit(POD, pod(containers=[
        {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}]},
        {"name": "b", "image": "nginx:1.25"}, {"name": "c", "image": "nginx:latest"}]))
    spec = out["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["securityContext"] == {}
    a, b, c = spec["containers"]
    assert [a["imagePullPolicy"], b["imagePullPolicy"], c["imagePullPolicy"]] == [
        "Always", "IfNotPresent", "Always"]
    assert a["terminationMessagePath"] == "/dev/termination-log"
    assert a["terminationMessagePolicy"] == "File"
    assert a["ports"][0]["protocol"] == "TCP"
    assert out["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_limits_become_requests_and_guaranteed_qos() -> None:
    """A container with only limits gets equal requests and the Guaranteed QoS class."""
    out = admit(POD, pod(containers=[{"name": "a", "image": "x:1", "resources": {
        "limits": {"cpu": "500m", "memory": "64Mi"}}}]))
    assert out["spec"]["containers"][0]["resources"]["requests"] == {
        "cpu": "500m", "memory": "64Mi"}
    assert out["status"]["qosClass"] == "Guaranteed"


def test_missing_image_names_the_field() -> None:
    """A container without an image is refused with `spec.containers[0].image: Required value`."""
    bad = pod(containers=[{"name": "app"}])
    assert messages(POD, bad) == ["spec.containers[0].image: Required value"]


def test_container_names_unique_across_init_and_app_containers() -> None:
    """An app container named like an init container is a duplicate."""
    bad = pod(initContainers=[{"name": "app", "image": "x"}])
    assert messages(POD, bad) == ['spec.containers[0].name: Duplicate value: "app"']


def test_restart_policy_enum_and_port_range() -> None:
    """An unknown restartPolicy and port 0/70000 are named with Kubernetes' wording."""
    bad = pod(restartPolicy="Sometimes", containers=[{"name": "a", "image": "x", "ports": [
        {"containerPort": 70000}]}])
    assert messages(POD, bad) == [
        "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 "
        "and 65535, inclusive",
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
        '"OnFailure", "Never"',
    ]


def test_requests_above_limits_are_refused() -> None:
    """requests.cpu above limits.cpu is refused on spec...resources.requests."""
    bad = pod(containers=[{"name": "a", "image": "x", "resources": {
        "requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}])
    assert messages(POD, bad) == [
        'spec.containers[0].resources.requests: Invalid value: "2": must be less than or '
        "equal to cpu limit of 1"]


def test_bad_names_and_labels() -> None:
    """Upper-case names and malformed label values get the RFC 1123 / label messages."""
    bad = pod()
    bad["metadata"].update(name="Bad_Name", labels={"app": "-x-"})
    got = messages(POD, bad)
    assert got[0].startswith('metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 '
                             "subdomain must consist of")
    assert got[1].startswith('metadata.labels: Invalid value: "-x-": a valid label must be')


def test_volume_mount_must_name_a_volume() -> None:
    """A mount of an undeclared volume is `Not found`."""
    bad = pod(containers=[{"name": "a", "image": "x", "volumeMounts": [
        {"name": "data", "mountPath": "/data"}]}])
    assert messages(POD, bad) == ['spec.containers[0].volumeMounts[0].name: Not found: "data"']


def test_strict_unknown_field_is_a_bad_request() -> None:
    """Strict field validation refuses an unknown field with kubectl's decoding message."""
    bad = pod(containers=[{"name": "a", "image": "x", "imagePullPolicyy": "Always"}])
    with pytest.raises(BadRequest) as err:
        admit(POD, bad)
    assert str(err.value) == ('Pod in version "v1" cannot be handled as a Pod: strict decoding '
                              'error: unknown field "spec.containers[0].imagePullPolicyy"')


def test_warn_mode_prunes_and_warns() -> None:
    """Warn mode drops the unknown field and returns a warning for it."""
    bad = pod(foo=1)
    out, warnings = objects.admit(POD, objects.to_storage(POD, bad), None, "Warn")
    assert "foo" not in out["spec"]
    assert warnings == ['unknown field "spec.foo"']


def test_pod_spec_is_mostly_immutable() -> None:
    """Changing a pod's restartPolicy on update is forbidden; changing the image is not."""
    old = admit(POD, pod())
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "busybox:2"
    admit(POD, new, old)
    new["spec"]["restartPolicy"] = "Never"
    assert messages(POD, new, old)[0].startswith("spec: Forbidden: pod updates may not change")


def test_service_defaults_and_port_validation() -> None:
    """A service gets ClusterIP, sessionAffinity None, TCP and targetPort = port."""
    svc: dict[str, Any] = {"metadata": {"name": "web", "namespace": "default"},
                           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    out = admit(SVC, svc)
    assert out["spec"]["type"] == "ClusterIP"
    assert out["spec"]["sessionAffinity"] == "None"
    assert out["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    svc["spec"]["ports"] = [{"port": 80}, {"port": 0, "name": "b"}]
    assert messages(SVC, svc) == [
        "spec.ports[0].name: Required value",
        "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive"]


def test_service_names_are_dns1035_labels() -> None:
    """A service name starting with a digit is refused as a DNS-1035 label."""
    svc = {"metadata": {"name": "1web", "namespace": "default"}, "spec": {"ports": [
        {"port": 80}]}}
    assert messages(SVC, svc)[0].startswith('metadata.name: Invalid value: "1web": a DNS-1035')


def test_namespace_defaults() -> None:
    """A new namespace has finalizer kubernetes and phase Active, and no namespace itself."""
    out = admit(NS, {"metadata": {"name": "team-a"}})
    assert out["spec"] == {"finalizers": ["kubernetes"]}
    assert out["status"] == {"phase": "Active"}


def test_rc_selector_defaults_to_template_labels() -> None:
    """An RC without a selector selects its template's labels; a mismatch is refused."""
    rc: dict[str, Any] = {"metadata": {"name": "rc", "namespace": "default"}, "spec": {"template": {
        "metadata": {"labels": {"app": "x"}}, "spec": pod()["spec"]}}}
    out = admit(RC, rc)
    assert out["spec"]["selector"] == {"app": "x"}
    assert out["spec"]["replicas"] == 1
    assert out["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    rc["spec"]["selector"] = {"app": "y"}
    assert messages(RC, rc) == [
        'spec.template.metadata.labels: Invalid value: {"app":"x"}: `selector` does not match '
        "template `labels`"]
