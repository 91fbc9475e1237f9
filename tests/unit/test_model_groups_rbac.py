"""rbac.authorization.k8s.io v1/v1alpha1, federation/v1beta1 Cluster, coordination/v1 Lease:
conversions, defaults, validation messages and `kubectl get` cells."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from minikube13.model import kinds, objects
from minikube13.testing.admission import admit, messages


def served(group: str, version: str, plural: str) -> kinds.ResourceInfo:
    found = kinds.find(group, version, plural)
    assert found is not None, plural
    return found


GROUP = "rbac.authorization.k8s.io"
ROLE = served(GROUP, "v1", "roles")
ROLE_A = served(GROUP, "v1alpha1", "roles")
CROLE = served(GROUP, "v1", "clusterroles")
RB = served(GROUP, "v1", "rolebindings")
RB_A = served(GROUP, "v1alpha1", "rolebindings")
CRB = served(GROUP, "v1", "clusterrolebindings")
CRB_A = served(GROUP, "v1alpha1", "clusterrolebindings")
CLUSTER = served("federation", "v1beta1", "clusters")
LEASE = served("coordination.k8s.io", "v1", "leases")
objects.spec_for(ROLE)  # loads the group modules, which register the converters
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make(info: kinds.ResourceInfo, name: str = "x", **body: Any) -> dict[str, Any]:
    meta = {"name": name, **({"namespace": "default"} if info.namespaced else {})}
    return {"apiVersion": info.api_version, "kind": info.kind, "metadata": meta, **body}


READ_PODS = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}


# --- roles ----------------------------------------------------------------------------


def test_role_rules_need_verbs_groups_and_resources() -> None:
    """A rule without verbs, or a resource rule without groups and resources, is refused."""
    role = make(ROLE, rules=[{"resources": ["pods"]}, {"verbs": ["get"], "apiGroups": [""]}])
    assert messages(ROLE, role) == [
        "rules[0].verbs: Required value: verbs must contain at least one value",
        "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
        "rules[1].resources: Required value: resource rules must supply at least one resource"]


def test_non_resource_urls_only_in_cluster_roles() -> None:
    """nonResourceURLs are refused in a Role and accepted in a ClusterRole."""
    rule = {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}
    assert messages(ROLE, make(ROLE, rules=[rule])) == [
        'rules[0].nonResourceURLs: Invalid value: ["/healthz"]: namespaced rules cannot apply '
        "to non-resource URLs"]
    assert admit(CROLE, make(CROLE, name="system:healthz", rules=[rule]))["rules"] == [rule]


def test_rbac_names_may_contain_colons_but_not_slashes() -> None:
    """`system:controller:x` is a fine role name; `a/b` is refused."""
    assert admit(CROLE, make(CROLE, name="system:controller:x", rules=[READ_PODS]))
    assert messages(CROLE, make(CROLE, name="a/b", rules=[READ_PODS])) == [
        "metadata.name: Invalid value: \"a/b\": may not contain '/'"]


def test_v1alpha1_role_drops_attribute_restrictions_and_round_trips() -> None:
    """A 1.3 rule's attributeRestrictions is dropped; the rest round-trips unchanged."""
    rule = {**READ_PODS, "attributeRestrictions": {"x": 1}}
    stored = admit(ROLE_A, make(ROLE_A, rules=[rule]))
    assert stored["apiVersion"] == f"{GROUP}/v1"
    assert stored["rules"] == [READ_PODS]
    served = objects.from_storage(ROLE_A, stored)
    assert served["apiVersion"] == f"{GROUP}/v1alpha1"
    assert objects.from_storage(ROLE_A, admit(ROLE_A, copy.deepcopy(served))) == served


def test_aggregation_rule_needs_selectors() -> None:
    """An aggregationRule with no clusterRoleSelectors is refused."""
    role = make(CROLE, aggregationRule={})
    assert messages(CROLE, role) == [
        "aggregationRule.clusterRoleSelectors: Required value: at least one "
        "clusterRoleSelector required if aggregationRule is non-nil"]


# --- bindings -------------------------------------------------------------------------


def test_v1alpha1_binding_with_object_reference_role_ref() -> None:
    """A 1.3 roleRef (ObjectReference) and apiVersion subjects convert to v1 and back."""
    binding = make(RB_A, roleRef={"kind": "Role", "namespace": "default", "name": "reader",
                                  "apiVersion": f"{GROUP}/v1alpha1"},
                   subjects=[{"kind": "User", "name": "jane",
                              "apiVersion": f"{GROUP}/v1alpha1"},
                             {"kind": "ServiceAccount", "name": "default",
                              "namespace": "kube-system"}])
    stored = admit(RB_A, binding)
    assert stored["roleRef"] == {"apiGroup": GROUP, "kind": "Role", "name": "reader"}
    assert stored["subjects"] == [
        {"kind": "User", "name": "jane", "apiGroup": GROUP},
        {"kind": "ServiceAccount", "name": "default", "namespace": "kube-system"}]
    served = objects.from_storage(RB_A, stored)
    assert served["subjects"][0]["apiVersion"] == f"{GROUP}/v1alpha1"
    assert served["subjects"][1]["apiVersion"] == "v1"
    assert served["roleRef"] == stored["roleRef"]
    assert objects.from_storage(RB_A, admit(RB_A, copy.deepcopy(served))) == served


def test_v1alpha1_binding_with_group_role_ref_round_trips() -> None:
    """A {apiGroup, kind, name} roleRef is accepted in v1alpha1 and read back in v1."""
    binding = make(CRB_A, roleRef={"apiGroup": GROUP, "kind": "ClusterRole", "name": "admin"},
                   subjects=[{"kind": "Group", "name": "devs"}])
    stored = admit(CRB_A, binding)
    as_v1 = objects.from_storage(CRB, stored)
    assert as_v1["subjects"] == [{"kind": "Group", "name": "devs", "apiGroup": GROUP}]
    assert objects.from_storage(CRB, admit(CRB, copy.deepcopy(as_v1))) == as_v1


def test_v1_binding_defaults_api_groups() -> None:
    """roleRef.apiGroup and a User subject's apiGroup default to the RBAC group."""
    stored = admit(RB, make(RB, roleRef={"kind": "ClusterRole", "name": "view"},
                            subjects=[{"kind": "User", "name": "bob"}]))
    assert stored["roleRef"]["apiGroup"] == GROUP
    assert stored["subjects"][0]["apiGroup"] == GROUP


def test_binding_validation_messages() -> None:
    """Bad roleRef kinds and subjects are refused with their paths."""
    crb = make(CRB, roleRef={"kind": "Role", "name": "r"},
               subjects=[{"kind": "ServiceAccount", "name": "sa"}, {"kind": "Robot", "name": "r"}])
    assert messages(CRB, crb) == [
        'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"',
        "subjects[0].namespace: Required value",
        'subjects[1].kind: Unsupported value: "Robot": supported values: "ServiceAccount", '
        '"User", "Group"']


def test_role_ref_is_immutable() -> None:
    """Changing a binding's roleRef on update is refused: `cannot change roleRef`."""
    old = admit(RB, make(RB, roleRef={"kind": "Role", "name": "a"}))
    new = copy.deepcopy(old)
    new["roleRef"]["name"] = "b"
    [msg] = messages(RB, new, old)
    assert msg.startswith("roleRef: Invalid value: {") and '"name":"b"' in msg
    assert msg.endswith("}: cannot change roleRef")


def test_rbac_table_rows() -> None:
    """`kubectl get role` shows CREATED AT; bindings show ROLE and the subjects."""
    role = admit(ROLE, make(ROLE, rules=[READ_PODS]))
    role["metadata"]["creationTimestamp"] = "2024-05-01T10:00:00Z"
    assert [c["name"] for c in objects.table_columns(ROLE)] == ["Name", "Created At"]
    assert objects.table_cells(ROLE, role, NOW) == ["x", "2024-05-01T10:00:00Z"]
    rb = admit(RB, make(RB, roleRef={"kind": "ClusterRole", "name": "view"}, subjects=[
        {"kind": "User", "name": "a"}, {"kind": "User", "name": "b"},
        {"kind": "Group", "name": "g"},
        {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]))
    rb["metadata"]["creationTimestamp"] = "2024-05-01T11:59:30Z"
    assert objects.table_cells(RB, rb, NOW) == ["x", "ClusterRole/view", "30s", "a, b", "g",
                                                "ns/sa"]


# --- federation and coordination ------------------------------------------------------


def cluster(**spec: Any) -> dict[str, Any]:
    body = {"serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": "https://10.0.0.2:6443"}],
            "secretRef": {"name": "east-kubeconfig"}}
    body.update(spec)
    return make(CLUSTER, name="east", spec=body)


def test_federation_cluster_accepted_and_round_trips() -> None:
    """A federation Cluster (cluster-scoped) is stored and read back unchanged."""
    stored = admit(CLUSTER, cluster())
    served = objects.from_storage(CLUSTER, stored)
    assert served["apiVersion"] == "federation/v1beta1"
    assert "namespace" not in served["metadata"]
    assert objects.from_storage(CLUSTER, admit(CLUSTER, copy.deepcopy(served))) == served


def test_federation_cluster_needs_addresses_with_cidrs() -> None:
    """No server addresses, or a bad CIDR, is a 422 naming the field."""
    assert messages(CLUSTER, cluster(serverAddressByClientCIDRs=[])) == [
        "spec.serverAddressByClientCIDRs: Required value"]
    bad = cluster(serverAddressByClientCIDRs=[{"clientCIDR": "10.0.0.300/8",
                                               "serverAddress": ""}])
    assert messages(CLUSTER, bad) == [
        'spec.serverAddressByClientCIDRs[0].clientCIDR: Invalid value: "10.0.0.300/8": '
        "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        "spec.serverAddressByClientCIDRs[0].serverAddress: Required value"]


def test_federation_cluster_status_column() -> None:
    """`kubectl get clusters` shows Ready, or NotReady when the condition is False."""
    stored = admit(CLUSTER, cluster())
    stored["status"] = {"conditions": [{"type": "Ready", "status": "True"}],
                        "zones": ["us-east1-a"], "region": "us-east1"}
    assert objects.table_cells(CLUSTER, stored, NOW)[:2] == ["east", "Ready"]
    stored["status"]["conditions"][0]["status"] = "False"
    assert objects.table_cells(CLUSTER, stored, NOW)[:2] == ["east", "NotReady"]


def test_lease_validation_and_holder_column() -> None:
    """A lease needs a positive duration; `kubectl get lease` shows its holder."""
    spec = {"holderIdentity": "node-1", "leaseDurationSeconds": 40,
            "renewTime": "2024-05-01T11:59:59.123456Z", "leaseTransitions": 0}
    stored = admit(LEASE, make(LEASE, spec=spec))
    assert objects.table_cells(LEASE, stored, NOW)[:2] == ["x", "node-1"]
    assert objects.from_storage(LEASE, stored)["spec"] == spec
    bad = make(LEASE, spec={"leaseDurationSeconds": 0, "leaseTransitions": -1,
                            "renewTime": "yesterday"})
    assert messages(LEASE, bad) == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
        'spec.renewTime: Invalid value: "yesterday": must be an RFC 3339 time, e.g. '
        '"2006-01-02T15:04:05.000000Z"']
