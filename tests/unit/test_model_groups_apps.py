"""apps and extensions/v1beta1: StatefulSet/PetSet, Deployment, ReplicaSet — conversions,
defaults, validation messages with field paths, and `kubectl get` cells."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from minikube13.model import kinds, objects
from minikube13.testing.admission import admit, messages


def served(group: str, version: str, plural: str) -> kinds.ResourceInfo:
    found = kinds.find(group, version, plural)
    assert found is not None, plural
    return found


STS = served("apps", "v1", "statefulsets")
PETSET = served("apps", "v1alpha1", "petsets")
DEPLOY = served("apps", "v1", "deployments")
RS = served("apps", "v1", "replicasets")
EXT_DEPLOY = served("extensions", "v1beta1", "deployments")
EXT_RS = served("extensions", "v1beta1", "replicasets")
objects.spec_for(STS)  # loads the group modules, which register the converters
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
INIT_ANNOTATION = "pod.alpha.kubernetes.io/init-containers"


def template(labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": [{"name": "web", "image": "nginx:1.25"}]}
    pod_spec.update(spec)
    meta = {"labels": labels} if labels is not None else {}
    return {"metadata": meta, "spec": pod_spec}


def workload(info: kinds.ResourceInfo, spec: dict[str, Any], name: str = "web",
             **meta: Any) -> dict[str, Any]:
    return {"apiVersion": info.api_version, "kind": info.kind,
            "metadata": {"name": name, "namespace": "default", **meta}, "spec": spec}


def pet_set() -> dict[str, Any]:
    return workload(PETSET, {
        "serviceName": "nginx", "replicas": 2,
        "template": template({"app": "nginx"}, containers=[{
            "name": "web", "image": "nginx:1.25",
            "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}]}]),
        "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}}}}],
    })


# --- PetSet / StatefulSet -------------------------------------------------------------


def test_petset_is_stored_as_statefulset_and_read_back_both_ways() -> None:
    """A PetSet is stored as an apps/v1 StatefulSet and reads back as PetSet and StatefulSet."""
    stored = admit(PETSET, pet_set())
    assert (stored["apiVersion"], stored["kind"]) == ("apps/v1", "StatefulSet")
    assert stored["spec"]["selector"] == {"matchLabels": {"app": "nginx"}}
    assert stored["metadata"]["labels"] == {"app": "nginx"}
    assert stored["spec"]["podManagementPolicy"] == "OrderedReady"
    assert stored["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                                "rollingUpdate": {"partition": 0}}
    assert stored["spec"]["revisionHistoryLimit"] == 10
    assert stored["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain", "whenScaled": "Retain"}
    stored["status"] = {"replicas": 2, "readyReplicas": 1, "observedGeneration": 1}

    as_pet = objects.from_storage(PETSET, stored)
    assert (as_pet["apiVersion"], as_pet["kind"]) == ("apps/v1alpha1", "PetSet")
    assert as_pet["spec"]["selector"] == {"matchLabels": {"app": "nginx"}}
    assert as_pet["status"] == {"replicas": 2, "observedGeneration": 1}
    as_sts = objects.from_storage(STS, stored)
    assert (as_sts["apiVersion"], as_sts["kind"]) == ("apps/v1", "StatefulSet")
    assert as_sts["status"]["readyReplicas"] == 1


def test_petset_round_trips_through_storage() -> None:
    """Served PetSet -> stored StatefulSet -> served PetSet gives the same PetSet back."""
    first = objects.from_storage(PETSET, admit(PETSET, pet_set()))
    again = objects.from_storage(PETSET, admit(PETSET, copy.deepcopy(first)))
    assert again == first


def test_petset_write_keeps_what_apps_v1_set() -> None:
    """Writing a PetSet back does not reset a StatefulSet's OnDelete strategy."""
    stored = admit(PETSET, pet_set())
    stored["spec"]["updateStrategy"] = {"type": "OnDelete"}
    as_pet = objects.from_storage(PETSET, stored)
    as_pet["spec"]["replicas"] = 3
    again = admit(PETSET, as_pet, stored)
    assert again["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert again["spec"]["replicas"] == 3


def test_statefulset_round_trips_and_keeps_its_own_fields() -> None:
    """An apps/v1 StatefulSet written and read back keeps Parallel and OnDelete."""
    sts = workload(STS, {"selector": {"matchLabels": {"app": "db"}}, "serviceName": "db",
                         "podManagementPolicy": "Parallel",
                         "updateStrategy": {"type": "OnDelete"},
                         "template": template({"app": "db"})})
    served = objects.from_storage(STS, admit(STS, sts))
    assert served["spec"]["podManagementPolicy"] == "Parallel"
    assert served["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert objects.from_storage(STS, admit(STS, copy.deepcopy(served))) == served


def test_petset_init_container_annotation_becomes_init_containers() -> None:
    """The 1.3 init-container annotation on a PetSet template is stored as initContainers."""
    pets = pet_set()
    init = [{"name": "install", "image": "busybox", "command": ["true"]}]
    pets["spec"]["template"]["metadata"]["annotations"] = {INIT_ANNOTATION: json.dumps(init)}
    stored = admit(PETSET, pets)
    tpl = stored["spec"]["template"]
    assert [c["name"] for c in tpl["spec"]["initContainers"]] == ["install"]
    assert INIT_ANNOTATION not in (tpl["metadata"].get("annotations") or {})
    served = objects.from_storage(PETSET, stored)
    annotated = json.loads(served["spec"]["template"]["metadata"]["annotations"][INIT_ANNOTATION])
    assert annotated[0]["name"] == "install"


def test_statefulset_requires_selector_matching_template() -> None:
    """An apps/v1 StatefulSet without a selector, or with a wrong one, is refused (422)."""
    sts = workload(STS, {"serviceName": "db", "template": template({"app": "db"})})
    assert "spec.selector: Required value" in messages(STS, sts)
    sts["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    assert messages(STS, sts) == [
        'spec.template.metadata.labels: Invalid value: {"app":"db"}: '
        "`selector` does not match template `labels`"]


def test_statefulset_template_must_restart_always() -> None:
    """A StatefulSet whose pods restart Never is refused, naming the template field."""
    sts = workload(STS, {"selector": {"matchLabels": {"app": "db"}}, "serviceName": "db",
                         "template": template({"app": "db"}, restartPolicy="Never")})
    assert messages(STS, sts) == ['spec.template.spec.restartPolicy: Unsupported value: '
                                  '"Never": supported values: "Always"']


def test_statefulset_mounts_must_name_a_volume_or_claim_template() -> None:
    """Mounting a claim template by name is fine; mounting an unknown volume is refused."""
    pets = pet_set()
    pets["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].append(
        {"name": "cache", "mountPath": "/cache"})
    assert any(m.startswith("spec.template.spec.containers[0].volumeMounts[1].name: Not found")
               for m in messages(PETSET, pets))


def test_statefulset_claim_template_needs_storage_request() -> None:
    """A volume claim template without a storage request is refused with its path."""
    pets = pet_set()
    del pets["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]
    assert "spec.volumeClaimTemplates[0].spec.resources[storage]: Required value" in \
        messages(PETSET, pets)


def test_statefulset_update_may_only_change_allowed_fields() -> None:
    """Scaling a StatefulSet is fine; changing its serviceName is forbidden."""
    old = admit(PETSET, pet_set())
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 5
    assert admit(STS, scaled, old)["spec"]["replicas"] == 5
    renamed = copy.deepcopy(old)
    renamed["spec"]["serviceName"] = "other"
    [msg] = messages(STS, renamed, old)
    assert msg.startswith("spec: Forbidden: updates to statefulset spec for fields other "
                          "than 'replicas'")


def test_statefulset_table_row() -> None:
    """`kubectl get sts -o wide` shows NAME READY AGE CONTAINERS IMAGES."""
    stored = admit(PETSET, pet_set())
    stored["metadata"]["creationTimestamp"] = "2024-05-01T11:55:00Z"
    stored["status"] = {"replicas": 2, "readyReplicas": 1}
    columns = [c["name"] for c in objects.table_columns(STS)]
    assert columns == ["Name", "Ready", "Age", "Containers", "Images"]
    assert objects.table_cells(STS, objects.from_storage(STS, stored), NOW) == [
        "web", "1/2", "5m", "web", "nginx:1.25"]


# --- Deployment / ReplicaSet ----------------------------------------------------------


def deployment(info: kinds.ResourceInfo = DEPLOY, selector: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": template({"app": "web"})}
    if selector:
        spec["selector"] = {"matchLabels": {"app": "web"}}
    return workload(info, spec)


def test_deployment_defaults_like_apps_v1() -> None:
    """A bare apps/v1 Deployment gets 1 replica, RollingUpdate 25%/25%, 10 revisions, 600s."""
    spec = admit(DEPLOY, deployment())["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["template"]["spec"]["restartPolicy"] == "Always"


def test_apps_v1_deployment_requires_a_selector() -> None:
    """apps/v1 refuses a Deployment without a selector; v1beta1 takes the template labels."""
    assert "spec.selector: Required value" in messages(DEPLOY, deployment(selector=False))
    stored = admit(EXT_DEPLOY, deployment(EXT_DEPLOY, selector=False))
    assert stored["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert stored["metadata"]["labels"] == {"app": "web"}
    assert (stored["apiVersion"], stored["kind"]) == ("apps/v1", "Deployment")


def test_deployment_selector_must_match_template_labels() -> None:
    """A selector that does not match the template is a 422 on the template's labels."""
    dep = deployment()
    dep["spec"]["selector"] = {"matchLabels": {"app": "db"}}
    assert messages(DEPLOY, dep) == [
        'spec.template.metadata.labels: Invalid value: {"app":"web"}: '
        "`selector` does not match template `labels`"]


def test_deployment_selector_is_immutable() -> None:
    """Changing an apps/v1 Deployment's selector on update is refused as immutable."""
    old = admit(DEPLOY, deployment())
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    assert messages(DEPLOY, new, old) == [
        'spec.selector: Invalid value: {"matchLabels":{"app":"web","tier":"x"}}: '
        "field is immutable"]


def test_deployment_strategy_validation() -> None:
    """maxSurge and maxUnavailable both 0, or a bad percent, are refused with their paths."""
    dep = deployment()
    dep["spec"]["strategy"] = {"type": "RollingUpdate",
                               "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}
    assert messages(DEPLOY, dep) == [
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: "
        "may not be 0 when `maxSurge` is 0"]
    dep["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": "x%", "maxUnavailable": 1}
    [msg] = messages(DEPLOY, dep)
    assert msg.startswith('spec.strategy.rollingUpdate.maxSurge: Invalid value: "x%": '
                          "a valid percent string")
    dep["spec"]["strategy"] = {"type": "Recreate", "rollingUpdate": {}}
    assert messages(DEPLOY, dep) == [
        "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` "
        "is 'Recreate'"]


def test_deployment_round_trips_in_both_versions() -> None:
    """apps/v1 and extensions/v1beta1 Deployments survive served -> stored -> served."""
    for info in (DEPLOY, EXT_DEPLOY):
        served = objects.from_storage(info, admit(info, deployment(info)))
        assert (served["apiVersion"], served["kind"]) == (info.api_version, "Deployment")
        assert objects.from_storage(info, admit(info, copy.deepcopy(served))) == served


def test_v1beta1_rollback_to_is_kept_through_apps_v1() -> None:
    """extensions/v1beta1 spec.rollbackTo is stored as an annotation and served back."""
    dep = deployment(EXT_DEPLOY)
    dep["spec"]["rollbackTo"] = {"revision": 2}
    stored = admit(EXT_DEPLOY, dep)
    assert "rollbackTo" not in stored["spec"]
    assert stored["metadata"]["annotations"] == {"deprecated.deployment.rollback.to": "2"}
    served = objects.from_storage(EXT_DEPLOY, stored)
    assert served["spec"]["rollbackTo"] == {"revision": 2}
    assert "annotations" not in served["metadata"]
    assert objects.from_storage(EXT_DEPLOY, admit(EXT_DEPLOY, copy.deepcopy(served))) == served


def test_replicaset_v1beta1_defaults_selector_and_round_trips() -> None:
    """An extensions/v1beta1 ReplicaSet without selector is stored as apps/v1 and served back."""
    rs = workload(EXT_RS, {"template": template({"app": "web"})})
    stored = admit(EXT_RS, rs)
    assert stored["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert stored["spec"]["replicas"] == 1
    served = objects.from_storage(EXT_RS, stored)
    assert (served["apiVersion"], served["kind"]) == ("extensions/v1beta1", "ReplicaSet")
    assert objects.from_storage(EXT_RS, admit(EXT_RS, copy.deepcopy(served))) == served


def test_replicaset_refuses_an_empty_selector_and_active_deadline() -> None:
    """An empty selector and a pod deadline are refused like the apiserver does."""
    rs = workload(RS, {"selector": {}, "template": template(
        {"app": "web"}, activeDeadlineSeconds=5)})
    assert messages(RS, rs) == [
        "spec.selector: Invalid value: {}: empty selector is invalid for deployment",
        "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in "
        "ReplicaSet is not Supported"]


def test_deployment_and_replicaset_table_rows() -> None:
    """`kubectl get deploy,rs -o wide` cells: READY x/y, counts, containers, selector."""
    dep = admit(DEPLOY, deployment())
    dep["metadata"]["creationTimestamp"] = "2024-05-01T09:00:00Z"
    dep["status"] = {"readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    assert [c["name"] for c in objects.table_columns(DEPLOY)] == [
        "Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"]
    assert objects.table_cells(DEPLOY, dep, NOW) == [
        "web", "1/1", 1, 1, "3h", "web", "nginx:1.25", "app=web"]
    rs = admit(RS, workload(RS, {"replicas": 3, "selector": {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
        "template": template({"app": "web", "tier": "a"})}))
    rs["status"] = {"replicas": 3, "readyReplicas": 2}
    assert objects.table_cells(RS, rs, NOW)[1:4] == [3, 3, 2]
    assert objects.table_cells(RS, rs, NOW)[-1] == "app=web,tier in (a,b)"
    assert objects.field_labels(RS, rs)["status.replicas"] == "3"
