"""rbac.authorization.k8s.io: Role, RoleBinding, ClusterRole, ClusterRoleBinding.

v1 is the stored form. v1alpha1 is the 1.3 spelling: its Subject names the referent's
`apiVersion` where v1 has `apiGroup`, its PolicyRule may carry `attributeRestrictions`
(never enforced; dropped), and in 1.3 `roleRef` was a full ObjectReference
({kind, namespace, name, apiVersion}) where 1.4+ use {apiGroup, kind, name}: both are accepted.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import objects
from minikube13.model.errors import FieldError
from minikube13.model.groups.meta import (
    AGE_COLUMN,
    LABEL_SELECTOR,
    NAME_COLUMN,
    name_of,
    obj,
    object_age,
    parse_time,
    top_level,
)
from minikube13.model.objects import Column, KindSpec, Object
from minikube13.model.schema import AnyValue, Arr, Obj, Schema, string
from minikube13.model.validation import check_value, dns1123_subdomain, validate_label_selector

GROUP = "rbac.authorization.k8s.io"
V1 = f"{GROUP}/v1"
V1ALPHA1 = f"{GROUP}/v1alpha1"
_API = "io.k8s.api.rbac.v1"
_ATOMIC_STRINGS = Arr(items=string(), list_type="atomic")

POLICY_RULE = obj(f"{_API}.PolicyRule", "PolicyRule holds information that describes a policy "
                  "rule, but does not contain information about who the rule applies to.", {
    "verbs": _ATOMIC_STRINGS.with_description("Verbs is a list of Verbs that apply to ALL the "
                                              "ResourceKinds contained in this rule. '*' "
                                              "represents all verbs."),
    "apiGroups": _ATOMIC_STRINGS.with_description("APIGroups is the name of the APIGroup "
                                                  "that contains the resources."),
    "resources": _ATOMIC_STRINGS.with_description("Resources is a list of resources this rule "
                                                  "applies to. '*' represents all resources."),
    "resourceNames": _ATOMIC_STRINGS.with_description("ResourceNames is an optional white "
                                                      "list of names that the rule applies to."),
    "nonResourceURLs": _ATOMIC_STRINGS.with_description("NonResourceURLs is a set of partial "
                                                        "urls that a user should have access "
                                                        "to."),
}, required=("verbs",))

SUBJECT = obj(f"{_API}.Subject", "Subject contains a reference to the object or user "
              "identities a role binding applies to.", {
    "kind": string("Kind of object being referenced: \"User\", \"Group\", or "
                   "\"ServiceAccount\"."),
    "apiGroup": string("APIGroup holds the API group of the referenced subject."),
    "name": string("Name of the object being referenced."),
    "namespace": string("Namespace of the referenced object."),
}, required=("kind", "name"))

ROLE_REF = obj(f"{_API}.RoleRef", "RoleRef contains information that points to the role "
               "being used", {
    "apiGroup": string("APIGroup is the group for the resource being referenced"),
    "kind": string("Kind is the type of resource being referenced"),
    "name": string("Name is the name of resource being referenced"),
}, required=("apiGroup", "kind", "name"))

AGGREGATION_RULE = obj(f"{_API}.AggregationRule", "AggregationRule describes how to locate "
                       "ClusterRoles to aggregate into the ClusterRole", {
    "clusterRoleSelectors": Arr(items=LABEL_SELECTOR, list_type="atomic"),
})

_RULES: dict[str, Schema] = {
    "rules": Arr(items=POLICY_RULE, list_type="atomic",
                 description="Rules holds all the PolicyRules for this Role"),
}
_BINDING: dict[str, Schema] = {
    "subjects": Arr(items=SUBJECT, list_type="atomic",
                    description="Subjects holds references to the objects the role applies to."),
    "roleRef": ROLE_REF.with_description("RoleRef can reference a Role in the current "
                                         "namespace or a ClusterRole in the global namespace."),
}
ROLE = top_level(f"{_API}.Role", "Role is a namespaced, logical grouping of PolicyRules.",
                 _RULES)
CLUSTER_ROLE = top_level(f"{_API}.ClusterRole", "ClusterRole is a cluster level, logical "
                         "grouping of PolicyRules.",
                         {**_RULES, "aggregationRule": AGGREGATION_RULE})
ROLE_BINDING = top_level(f"{_API}.RoleBinding", "RoleBinding references a role, but does not "
                         "contain it.", _BINDING)
CLUSTER_ROLE_BINDING = top_level(f"{_API}.ClusterRoleBinding", "ClusterRoleBinding references "
                                 "a ClusterRole, but not contain it.", _BINDING)


# v1alpha1's served shapes: Subject has apiVersion, roleRef may be a 1.3 ObjectReference,
# rules may carry attributeRestrictions.
_ALPHA = "io.k8s.api.rbac.v1alpha1"
_RULE_ALPHA = dataclasses.replace(POLICY_RULE, name=f"{_ALPHA}.PolicyRule", fields={
    **POLICY_RULE.fields, "attributeRestrictions": AnyValue(
        description="Ignored (1.3): never enforced by the RBAC authorizer.")})
_SUBJECT_ALPHA = obj(f"{_ALPHA}.Subject", SUBJECT.description, {
    "kind": SUBJECT.fields["kind"], "apiVersion": string("APIVersion holds the API group and "
                                                         "version of the referenced subject."),
    "name": SUBJECT.fields["name"], "namespace": SUBJECT.fields["namespace"],
}, required=("kind", "name"))
_ROLE_REF_ALPHA = obj(f"{_ALPHA}.RoleRef", "RoleRef: {apiGroup, kind, name}, or (1.3) an "
                      "ObjectReference {kind, namespace, name, apiVersion}.", {
    **ROLE_REF.fields, "apiVersion": string(), "namespace": string(), "uid": string(),
    "resourceVersion": string(), "fieldPath": string()}, required=("kind", "name"))


def _alpha(schema: Obj) -> Obj:
    fields = dict(schema.fields)
    if "rules" in fields:
        fields["rules"] = Arr(items=_RULE_ALPHA, list_type="atomic")
    if "subjects" in fields:
        fields["subjects"] = Arr(items=_SUBJECT_ALPHA, list_type="atomic")
        fields["roleRef"] = _ROLE_REF_ALPHA
    return dataclasses.replace(schema, fields=fields)


def rbac_name(name: str) -> list[str]:
    """RBAC names are path segments (`system:controller:x` is fine), not DNS names."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


# --- validation ------------------------------------------------------------------------


def _validate_rule(rule: dict[str, Any], namespaced: bool, path: str) -> list[FieldError]:
    out: list[FieldError] = []
    if not rule.get("verbs"):
        out.append(fe.required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs") or []
    if urls:
        if namespaced:
            out.append(fe.invalid(f"{path}.nonResourceURLs", urls,
                                  "namespaced rules cannot apply to non-resource URLs"))
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            out.append(fe.invalid(f"{path}.nonResourceURLs", urls, "rules cannot apply to both "
                                  "regular resources and non-resource URLs"))
        return out
    if not rule.get("apiGroups"):
        out.append(fe.required(f"{path}.apiGroups",
                               "resource rules must supply at least one api group"))
    if not rule.get("resources"):
        out.append(fe.required(f"{path}.resources",
                               "resource rules must supply at least one resource"))
    return out


def _validate_rules(obj_: Object, namespaced: bool) -> list[FieldError]:
    out: list[FieldError] = []
    for i, rule in enumerate(obj_.get("rules") or []):
        if isinstance(rule, dict):
            out += _validate_rule(rule, namespaced, f"rules[{i}]")
    return out


def validate_role(new: Object, old: Object | None) -> list[FieldError]:
    return _validate_rules(new, namespaced=True)


def validate_cluster_role(new: Object, old: Object | None) -> list[FieldError]:
    out = _validate_rules(new, namespaced=False)
    rule = new.get("aggregationRule")
    if isinstance(rule, dict):
        selectors = rule.get("clusterRoleSelectors") or []
        if not selectors:
            out.append(fe.required("aggregationRule.clusterRoleSelectors", "at least one "
                                   "clusterRoleSelector required if aggregationRule is non-nil"))
        for i, selector in enumerate(selectors):
            out += validate_label_selector(selector,
                                           f"aggregationRule.clusterRoleSelectors[{i}]")
    return out


def _validate_subject(subject: dict[str, Any], namespaced: bool, path: str) -> list[FieldError]:
    out: list[FieldError] = []
    name, kind, group = subject.get("name") or "", subject.get("kind"), subject.get("apiGroup", "")
    if not name:
        out.append(fe.required(f"{path}.name"))
    if kind == "ServiceAccount":
        if name:
            out += check_value(f"{path}.name", name, dns1123_subdomain)
        if group:
            out.append(fe.not_supported(f"{path}.apiGroup", group, [""]))
        if not namespaced and not subject.get("namespace"):
            out.append(fe.required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if group != GROUP:
            out.append(fe.not_supported(f"{path}.apiGroup", group, [GROUP]))
    else:
        out.append(fe.not_supported(f"{path}.kind", kind or "",
                                    ["ServiceAccount", "User", "Group"]))
    return out


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _validate_binding(new: Object, old: Object | None, kinds: list[str],
                      namespaced: bool) -> list[FieldError]:
    ref = _as_dict(new.get("roleRef"))
    out: list[FieldError] = []
    if ref.get("apiGroup") != GROUP:
        out.append(fe.not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [GROUP]))
    if ref.get("kind") not in kinds:
        out.append(fe.not_supported("roleRef.kind", ref.get("kind", ""), kinds))
    if not ref.get("name"):
        out.append(fe.required("roleRef.name"))
    else:
        out += check_value("roleRef.name", ref["name"], rbac_name)
    for i, subject in enumerate(new.get("subjects") or []):
        if isinstance(subject, dict):
            out += _validate_subject(subject, namespaced, f"subjects[{i}]")
    if old is not None and old.get("roleRef") != new.get("roleRef"):
        out.append(fe.invalid("roleRef", ref, "cannot change roleRef"))
    return out


def validate_role_binding(new: Object, old: Object | None) -> list[FieldError]:
    return _validate_binding(new, old, ["Role", "ClusterRole"], namespaced=True)


def validate_cluster_role_binding(new: Object, old: Object | None) -> list[FieldError]:
    return _validate_binding(new, old, ["ClusterRole"], namespaced=False)


# --- defaults -------------------------------------------------------------------------


def default_binding(obj_: Object) -> Object:
    """roleRef.apiGroup and User/Group subjects' apiGroup default to the RBAC group."""
    out = copy.deepcopy(obj_)
    ref = out.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = GROUP
    for subject in out.get("subjects") or []:
        if isinstance(subject, dict) and not subject.get("apiGroup"):
            if subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = GROUP
    return out


# --- v1alpha1 <-> v1 ------------------------------------------------------------------


def _group_of(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def subject_to_v1(subject: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in subject.items() if k != "apiVersion"}
    kind = subject.get("kind")
    if kind == "ServiceAccount":
        out["apiGroup"] = ""
    elif kind in ("User", "Group"):
        out["apiGroup"] = GROUP
    elif subject.get("apiVersion"):
        out["apiGroup"] = _group_of(subject["apiVersion"])
    if not out.get("apiGroup"):
        out.pop("apiGroup", None)
    return out


def subject_to_v1alpha1(subject: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in subject.items() if k != "apiGroup"}
    kind, group = subject.get("kind"), subject.get("apiGroup", "")
    if kind == "ServiceAccount" and not group:
        out["apiVersion"] = "v1"
    elif kind in ("User", "Group") and group == GROUP:
        out["apiVersion"] = V1ALPHA1
    elif group:
        out["apiVersion"] = f"{group}/"
    return out


def role_ref_to_v1(ref: Any) -> Any:
    """Either roleRef spelling -> {apiGroup, kind, name}; a 1.3 ObjectReference's
    namespace, uid and resourceVersion say nothing RBAC can use, so they are dropped."""
    if not isinstance(ref, dict):
        return ref
    group = ref.get("apiGroup")
    if not group and ref.get("apiVersion"):
        group = _group_of(ref["apiVersion"])
    out = {k: ref[k] for k in ("kind", "name") if k in ref}
    return {"apiGroup": group or GROUP, **out}


def _binding_to_v1(obj_: Object) -> Object:
    out = copy.deepcopy(obj_)
    if "roleRef" in out:
        out["roleRef"] = role_ref_to_v1(out["roleRef"])
    if isinstance(out.get("subjects"), list):
        out["subjects"] = [subject_to_v1(s) if isinstance(s, dict) else s
                           for s in out["subjects"]]
    return out


def _binding_to_v1alpha1(obj_: Object) -> Object:
    out = copy.deepcopy(obj_)
    if isinstance(out.get("subjects"), list):
        out["subjects"] = [subject_to_v1alpha1(s) for s in out["subjects"]]
    return out


def _rules_to_v1(obj_: Object) -> Object:
    """attributeRestrictions was never enforced by any authorizer; v1 has no place for it."""
    out = copy.deepcopy(obj_)
    for rule in out.get("rules") or []:
        if isinstance(rule, dict):
            rule.pop("attributeRestrictions", None)
    return out


# --- printing -------------------------------------------------------------------------

_CREATED_AT = Column("Created At", "date", "", "CreationTimestamp is a timestamp representing "
                     "the server time when this object was created.")
_BINDING_COLUMNS = (
    NAME_COLUMN,
    Column("Role", description="RoleRef can reference a Role in the current namespace or a "
           "ClusterRole in the global namespace."),
    AGE_COLUMN,
    Column("Users", priority=1, description="Users in the roleBinding"),
    Column("Groups", priority=1, description="Groups in the roleBinding"),
    Column("ServiceAccounts", priority=1, description="ServiceAccounts in the roleBinding"),
)


def role_cells(obj_: Object, now: datetime) -> list[Any]:
    created = parse_time(str((obj_.get("metadata") or {}).get("creationTimestamp", "")))
    text = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if created else \
        "<unknown>"
    return [name_of(obj_), text]


def binding_cells(obj_: Object, now: datetime) -> list[Any]:
    ref = obj_.get("roleRef") or {}
    users: list[str] = []
    groups: list[str] = []
    accounts: list[str] = []
    for s in obj_.get("subjects") or []:
        if s.get("kind") == "ServiceAccount":
            accounts.append(f"{s.get('namespace', '')}/{s.get('name', '')}")
        elif s.get("kind") == "User":
            users.append(s.get("name", ""))
        elif s.get("kind") == "Group":
            groups.append(s.get("name", ""))
    return [name_of(obj_), f"{ref.get('kind', '')}/{ref.get('name', '')}",
            object_age(obj_, now), ", ".join(users), ", ".join(groups), ", ".join(accounts)]


# --- registration ---------------------------------------------------------------------

_NAME_CHECK = {"name_check": rbac_name}

objects.register(KindSpec("roles", ROLE, validate=validate_role,
                          columns=(NAME_COLUMN, _CREATED_AT), cells=role_cells,
                          extra=_NAME_CHECK))
objects.register(KindSpec("clusterroles", CLUSTER_ROLE, validate=validate_cluster_role,
                          columns=(NAME_COLUMN, _CREATED_AT), cells=role_cells,
                          extra=_NAME_CHECK))
objects.register(KindSpec("rolebindings", ROLE_BINDING, default=default_binding,
                          validate=validate_role_binding, columns=_BINDING_COLUMNS,
                          cells=binding_cells, extra=_NAME_CHECK))
objects.register(KindSpec("clusterrolebindings", CLUSTER_ROLE_BINDING, default=default_binding,
                          validate=validate_cluster_role_binding, columns=_BINDING_COLUMNS,
                          cells=binding_cells, extra=_NAME_CHECK))

for _kind, _schema in (("Role", ROLE), ("ClusterRole", CLUSTER_ROLE),
                      ("RoleBinding", ROLE_BINDING),
                      ("ClusterRoleBinding", CLUSTER_ROLE_BINDING)):
    objects.SERVED_SCHEMAS[(V1ALPHA1, _kind)] = _alpha(_schema)
for _kind in ("Role", "ClusterRole"):
    objects.TO_STORAGE[(V1ALPHA1, _kind)] = _rules_to_v1
for _kind in ("RoleBinding", "ClusterRoleBinding"):
    objects.TO_STORAGE[(V1ALPHA1, _kind)] = _binding_to_v1
    objects.FROM_STORAGE[(V1ALPHA1, _kind)] = _binding_to_v1alpha1
