"""The registry's one door into the object model: model errors become StatusErrors here,
once, and nowhere else."""

from __future__ import annotations

from typing import Any

from minikube13.model import errors as model_errors
from minikube13.model import objects
from minikube13.model.kinds import ResourceInfo
from minikube13.model.schema import Schema
from minikube13.model.selectors import FieldSelector, SelectorError, check_fields
from minikube13.registry.errors import StatusError, bad_request, invalid

Object = dict[str, Any]

def model_error(info: ResourceInfo, err: model_errors.ModelError) -> StatusError:
    """The Status a model error is sent back as (422 Invalid with causes, or 400)."""
    if isinstance(err, model_errors.Invalid):
        return invalid(info.group, info.kind, err.name, err.message(), err.errors)
    return bad_request(str(err))


def to_storage(info: ResourceInfo, obj: Object) -> Object:
    try:
        return objects.to_storage(info, obj)
    except model_errors.ModelError as err:
        raise model_error(info, err) from err


def from_storage(info: ResourceInfo, obj: Object) -> Object:
    return objects.from_storage(info, obj)


def admit(info: ResourceInfo, obj: Object, old: Object | None,
          field_validation: str) -> tuple[Object, list[str]]:
    """Type-check, prune, default and validate a canonical object."""
    try:
        admitted, warnings = objects.admit(info, obj, old, field_validation=field_validation)
    except model_errors.ModelError as err:
        raise model_error(info, err) from err
    return admitted, list(warnings)


def field_labels(info: ResourceInfo, obj: Object) -> dict[str, str]:
    """The values a fieldSelector can match on, for a canonical object."""
    return objects.field_labels(info, obj)


def supported_fields(info: ResourceInfo) -> set[str]:
    """The field labels this kind can be selected on."""
    return set(objects.field_labels(info, {"metadata": {}}))


def check_field_selector(info: ResourceInfo, selector: FieldSelector) -> None:
    try:
        check_fields(selector, supported_fields(info))
    except SelectorError as err:
        raise bad_request(str(err)) from err


def schema_of(info: ResourceInfo) -> Schema:
    """The served form's top-level schema, for strategic merge patch metadata."""
    return objects.schema_of(info)
