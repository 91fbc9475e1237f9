"""What every workload kind shares: a pod template, a label selector over its pods, and the
CONTAINERS / IMAGES / SELECTOR cells of `kubectl get -o wide`.

Used by apps (StatefulSet, Deployment, ReplicaSet), extensions/v1beta1 and batch.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any, TypeGuard

from minikube13.model import errors as fe
from minikube13.model import selectors
from minikube13.model.errors import FieldError
from minikube13.model.groups import core_pod
from minikube13.model.objects import Column, Object
from minikube13.model.validation import validate_label_selector

Json = dict[str, Any]
Convert = Callable[[Object], Object]

# --- navigation -----------------------------------------------------------------------


def section(obj: Json, key: str) -> Json:
    """obj[key] when it is an object, else an empty dict (never stored)."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def ensure(obj: Json, key: str) -> Json:
    """obj[key], created as {} when missing or not an object."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = obj[key] = {}
    return value


def template_labels(template: Json) -> dict[str, str]:
    labels = section(template, "metadata").get("labels")
    return labels if isinstance(labels, dict) else {}


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# --- selectors ------------------------------------------------------------------------


def selector_matches(selector: Json, labels: dict[str, str]) -> bool:
    """metav1.LabelSelector semantics; a malformed selector (reported by validation
    elsewhere) matches nothing."""
    try:
        return selectors.from_label_selector(selector).matches(labels)
    except selectors.SelectorError:
        return False


def selector_is_empty(selector: Json) -> bool:
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def format_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector: `app=web,tier in (a,b)`, `<none>` when empty."""
    if not isinstance(selector, dict):
        return "<none>"
    try:
        return str(selectors.from_label_selector(selector)) or "<none>"
    except selectors.SelectorError:
        return "<error>"


def default_selector_from_template(obj: Json) -> None:
    """The 1.3 defaulting (PetSet, extensions/v1beta1, RC): an absent selector and absent
    object labels are taken from the pod template's labels."""
    spec = section(obj, "spec")
    labels = template_labels(section(spec, "template"))
    if not labels:
        return
    if spec.get("selector") is None:
        spec["selector"] = {"matchLabels": dict(labels)}
    meta = ensure(obj, "metadata")
    if not meta.get("labels"):
        meta["labels"] = dict(labels)


def validate_selector(spec: Json, path: str, kind_word: str) -> list[FieldError]:
    """spec.selector required, non-empty, well formed, and matching the template's labels."""
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        return [fe.required(f"{path}.selector")]
    out = validate_label_selector(selector, f"{path}.selector")
    if selector_is_empty(selector):
        out.append(fe.invalid(f"{path}.selector", selector,
                              f"empty selector is invalid for {kind_word}"))
        return out
    return out + validate_selector_matches(selector, section(spec, "template"),
                                           f"{path}.template")


def validate_selector_matches(selector: Json, template: Json, path: str) -> list[FieldError]:
    labels = template_labels(template)
    try:
        if selectors.from_label_selector(selector).matches(labels):
            return []
    except selectors.SelectorError:
        return []  # validate_label_selector names what is wrong with it
    return [fe.invalid(f"{path}.metadata.labels", labels,
                       "`selector` does not match template `labels`")]


# --- templates ------------------------------------------------------------------------


def default_template(template: Any) -> None:
    core_pod.default_pod_template(template)


def validate_controller_template(template: Any, path: str, kind_word: str) -> list[FieldError]:
    """A pod template run by a long-lived controller: restartPolicy Always, no deadline."""
    if not isinstance(template, dict):
        return [fe.required(path)]
    out = core_pod.validate_pod_template(template, path)
    spec = section(template, "spec")
    policy = spec.get("restartPolicy")
    if policy and policy != "Always":
        out.append(fe.not_supported(f"{path}.spec.restartPolicy", policy, ["Always"]))
    if spec.get("activeDeadlineSeconds") is not None:
        out.append(fe.forbidden(f"{path}.spec.activeDeadlineSeconds",
                                f"activeDeadlineSeconds in {kind_word} is not Supported"))
    return out


def _at(path: tuple[str, ...], change: Convert) -> Convert:
    """A converter applying `change` to the pod template found at `path` (copies first)."""
    def convert(obj: Object) -> Object:
        out = copy.deepcopy(obj)
        parent = out
        for key in path[:-1]:
            parent = section(parent, key)
        if isinstance(parent.get(path[-1]), dict):
            parent[path[-1]] = change(parent[path[-1]])
        return out
    return convert


def templates_in(path: tuple[str, ...]) -> tuple[Convert, Convert]:
    """(to storage, from storage) for the 1.3 init-container annotations of the template at
    `path`: annotations become spec.initContainers in storage and are written back (beside
    the field) when served, as for pods."""
    return (_at(path, core_pod.init_containers_from_annotations),
            _at(path, core_pod.init_containers_to_annotations))


def chain(*steps: Convert) -> Convert:
    def run(obj: Object) -> Object:
        for step in steps:
            obj = step(obj)
        return obj
    return run


# --- numbers --------------------------------------------------------------------------


def non_negative(spec: Json, keys: tuple[str, ...], path: str) -> list[FieldError]:
    return [fe.invalid(f"{path}.{key}", spec[key], "must be greater than or equal to 0")
            for key in keys if is_int(spec.get(key)) and spec[key] < 0]


_PERCENT = re.compile(r"^[0-9]+%$")


def int_or_percent(value: Any) -> int | None:
    """The number in 3 or "25%" (None when malformed)."""
    if is_int(value):
        return int(value)
    if isinstance(value, str) and _PERCENT.match(value):
        return int(value[:-1])
    return None


def validate_int_or_percent(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, str):
        if not _PERCENT.match(value):
            return [fe.invalid(path, value, "a valid percent string must be a numeric string "
                               "followed by an ending '%' (e.g. '1%',  or '93%', regex used "
                               "for validation is '[0-9]+%')")]
        return []
    if is_int(value) and value < 0:
        return [fe.invalid(path, value, "must be greater than or equal to 0")]
    return []


# --- printing -------------------------------------------------------------------------

CONTAINERS_COLUMN = Column("Containers", priority=1,
                           description="Names of each container in the template.")
IMAGES_COLUMN = Column("Images", priority=1,
                       description="Images referenced by each container in the template.")


def selector_column(description: str) -> Column:
    return Column("Selector", priority=1, description=description)


def container_cells(template: Any) -> list[str]:
    """The CONTAINERS and IMAGES cells: comma-joined names and images of app containers."""
    spec = section(template, "spec") if isinstance(template, dict) else {}
    containers = spec.get("containers") or []
    names = [str(c.get("name", "")) for c in containers if isinstance(c, dict)]
    images = [str(c.get("image", "")) for c in containers if isinstance(c, dict)]
    return [",".join(names), ",".join(images)]


def count(obj: Json, part: str, key: str) -> int:
    value = section(obj, part).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
