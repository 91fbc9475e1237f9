"""Name, label and metadata validators with Kubernetes' exact messages (apimachinery's
validation package). Each returns a list of FieldError; an empty list means valid."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from minikube13.model import errors as fe
from minikube13.model.errors import FieldError

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + r"(\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
C_IDENTIFIER_FMT = "[A-Za-z_][A-Za-z0-9_]*"

_DNS1123_LABEL = re.compile(f"^{DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_DNS1035_LABEL = re.compile(f"^{DNS1035_LABEL_FMT}$")
_QUALIFIED_NAME = re.compile(f"^{QUALIFIED_NAME_FMT}$")
_LABEL_VALUE = re.compile(f"^{LABEL_VALUE_FMT}$")

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
LABEL_VALUE_MAX = 63
TOTAL_ANNOTATION_SIZE = 256 * 1024

NameCheck = Callable[[str], list[str]]


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def _regex_msg(msg: str, fmt: str, examples: tuple[str, ...]) -> str:
    shown = ",  or ".join(f"'{e}'" for e in examples)
    return f"{msg} (e.g. {shown}, regex used for validation is '{fmt}')"


def dns1123_label(value: str) -> list[str]:
    """The problems with `value` as an RFC 1123 label (namespace names, port names...)."""
    out = []
    if len(value) > DNS1123_LABEL_MAX:
        out.append(_max_len(DNS1123_LABEL_MAX))
    if not _DNS1123_LABEL.match(value):
        out.append(_regex_msg(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
            "or '-', and must start and end with an alphanumeric character",
            DNS1123_LABEL_FMT, ("my-name", "123-abc")))
    return out


def dns1123_subdomain(value: str) -> list[str]:
    """The problems with `value` as an RFC 1123 subdomain (most object names)."""
    out = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        out.append(_max_len(DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN.match(value):
        out.append(_regex_msg(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN_FMT, ("example.com",)))
    return out


def dns1035_label(value: str) -> list[str]:
    """The problems with `value` as an RFC 1035 label (service names)."""
    out = []
    if len(value) > DNS1123_LABEL_MAX:
        out.append(_max_len(DNS1123_LABEL_MAX))
    if not _DNS1035_LABEL.match(value):
        out.append(_regex_msg(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
            "start with an alphabetic character, and end with an alphanumeric character",
            DNS1035_LABEL_FMT, ("my-name", "abc-123")))
    return out


def qualified_name(value: str) -> list[str]:
    """The problems with `value` as a label/annotation key (`[prefix/]name`)."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
        out: list[str] = []
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            out = ["prefix part must be non-empty"]
        else:
            out = ["prefix part " + m for m in dns1123_subdomain(prefix)]
    else:
        return [_regex_msg(
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
            "must start and end with an alphanumeric character", QUALIFIED_NAME_FMT,
            ("MyName", "my.name", "123-abc")) + " with an optional DNS subdomain prefix and "
            "'/' (e.g. 'example.com/MyName')"]
    if not name:
        out.append("name part must be non-empty")
    elif len(name) > 63:
        out.append("name part " + _max_len(63))
    if not _QUALIFIED_NAME.match(name):
        out.append("name part " + _regex_msg(
            "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character", QUALIFIED_NAME_FMT,
            ("MyName", "my.name", "123-abc")))
    return out


def label_value(value: str) -> list[str]:
    out = []
    if len(value) > LABEL_VALUE_MAX:
        out.append(_max_len(LABEL_VALUE_MAX))
    if not _LABEL_VALUE.match(value):
        out.append(_regex_msg(
            "a valid label must be an empty string or consist of alphanumeric characters, "
            "'-', '_' or '.', and must start and end with an alphanumeric character",
            LABEL_VALUE_FMT, ("MyValue", "my_value", "12345")))
    return out


def name_prefix(check: NameCheck) -> NameCheck:
    """generateName is checked as a name with its trailing dashes masked, like the apiserver."""
    def masked(value: str) -> list[str]:
        return check(value[:-1] + "a" if value.endswith("-") else value)
    return masked


def check_value(path: str, value: str, check: NameCheck) -> list[FieldError]:
    return [fe.invalid(path, value, msg) for msg in check(value)]


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    if not isinstance(labels, dict):
        return []
    out: list[FieldError] = []
    for key, value in labels.items():
        out += check_value(path, key, qualified_name)
        if isinstance(value, str):
            out += check_value(path, value, label_value)
    return out


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    if not isinstance(annotations, dict):
        return []
    out: list[FieldError] = []
    size = 0
    for key, value in annotations.items():
        out += check_value(path, key.lower(), qualified_name)
        size += len(key.encode()) + len(str(value).encode())
    if size > TOTAL_ANNOTATION_SIZE:
        out.append(fe.too_long(path, TOTAL_ANNOTATION_SIZE))
    return out


def validate_object_meta(meta: Any, path: str = "metadata", namespaced: bool = True,
                         name_check: NameCheck = dns1123_subdomain) -> list[FieldError]:
    """ObjectMeta on create and update: name or generateName, namespace, labels, annotations,
    owner references and finalizers. Namespaces and services pass their own `name_check`."""
    meta = meta if isinstance(meta, dict) else {}
    out: list[FieldError] = []
    name, generate = meta.get("name") or "", meta.get("generateName") or ""
    if generate:
        out += check_value(f"{path}.generateName", generate, name_prefix(name_check))
    if not name:
        out.append(fe.required(f"{path}.name", "name or generateName is required"))
    else:
        out += check_value(f"{path}.name", name, name_check)
    namespace = meta.get("namespace") or ""
    if namespaced:
        if not namespace:
            out.append(fe.required(f"{path}.namespace"))
        else:
            out += check_value(f"{path}.namespace", namespace, dns1123_label)
    elif namespace:
        out.append(fe.forbidden(f"{path}.namespace", "not allowed on this type"))
    out += validate_labels(meta.get("labels"), f"{path}.labels")
    out += validate_annotations(meta.get("annotations"), f"{path}.annotations")
    out += _validate_owner_references(meta.get("ownerReferences") or [],
                                      f"{path}.ownerReferences")
    for i, finalizer in enumerate(meta.get("finalizers") or []):
        out += check_value(f"{path}.finalizers[{i}]", finalizer, qualified_name)
    return out


def _validate_owner_references(refs: list[Any], path: str) -> list[FieldError]:
    out: list[FieldError] = []
    controllers = 0
    for i, ref in enumerate(refs):
        if not isinstance(ref, dict):
            continue
        for key in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(key):
                detail = "" if key != "uid" else "uid must not be empty"
                out.append(fe.invalid(f"{path}[{i}].{key}", ref.get(key, ""),
                                      detail or f"{key} must not be empty"))
        controllers += bool(ref.get("controller"))
    if controllers > 1:
        out.append(fe.invalid(path, refs, "Only one reference can have Controller set to true"))
    return out


def validate_object_meta_update(new: Any, old: Any, path: str = "metadata") -> list[FieldError]:
    """The metadata fields an update may not change."""
    new, old = new or {}, old or {}
    out: list[FieldError] = []
    for key in ("name", "namespace", "uid", "creationTimestamp"):
        if old.get(key) and new.get(key) != old.get(key):
            out.append(fe.invalid(f"{path}.{key}", new.get(key, ""), "field is immutable"))
    return out


def validate_immutable(new: Any, old: Any, path: str) -> list[FieldError]:
    if new == old:
        return []
    return [fe.invalid(path, new, "field is immutable")]


_SELECTOR_OPS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector: Any, path: str) -> list[FieldError]:
    """A metav1.LabelSelector: matchLabels as labels, matchExpressions by operator."""
    if not isinstance(selector, dict):
        return []
    out = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    for i, req in enumerate(selector.get("matchExpressions") or []):
        if not isinstance(req, dict):
            continue
        here = f"{path}.matchExpressions[{i}]"
        op, values = req.get("operator"), req.get("values") or []
        if op in ("In", "NotIn") and not values:
            out.append(fe.required(f"{here}.values",
                                   "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            out.append(fe.forbidden(f"{here}.values", "may not be specified when `operator` "
                                    "is 'Exists' or 'DoesNotExist'"))
        elif op not in _SELECTOR_OPS:
            out.append(fe.invalid(f"{here}.operator", op, "not a valid selector operator"))
        out += check_value(f"{here}.key", req.get("key") or "", qualified_name)
    return out


def validate_selector_map(selector: Any, path: str) -> list[FieldError]:
    """A plain map selector (services, replication controllers) is checked like labels."""
    return validate_labels(selector, path)


def validate_non_negative(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [fe.invalid(path, value, "must be greater than or equal to 0")]
    return []


def is_valid_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def port_range_msg() -> str:
    return "must be between 1 and 65535, inclusive"


def c_identifier(value: str) -> list[str]:
    if re.fullmatch(C_IDENTIFIER_FMT, value):
        return []
    return [_regex_msg("a valid C identifier must start with alphabetic character or '_', "
                       "followed by a string of alphanumeric characters or '_'",
                       C_IDENTIFIER_FMT, ("my_name", "MY_NAME", "MyName"))]


def json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
