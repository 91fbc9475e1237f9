"""Query parameters (and DeleteOptions bodies) -> the registry's option objects.

Pure. Values are checked the way the apiserver checks them: a bad one is a 400 BadRequest
naming the parameter, never a crash further down.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minikube13.registry import errors
from minikube13.registry.options import DeleteOptions, ListOptions, WriteOptions
from minikube13.registry.user import UserInfo

Query = Mapping[str, str]

FIELD_VALIDATION = ("Strict", "Warn", "Ignore")
PROPAGATION = ("Orphan", "Background", "Foreground")
INCLUDE_OBJECT = ("None", "Metadata", "Object")
MAX_FIELD_MANAGER = 128


def flag(query: Query, name: str) -> bool | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise errors.bad_request(f'invalid value for {name}: "{raw}" is not a boolean')


def integer(query: Query, name: str, *, minimum: int | None = None) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise errors.bad_request(f'invalid value for {name}: "{raw}" is not an integer') from None
    if minimum is not None and value < minimum:
        raise errors.bad_request(f"invalid value for {name}: {value} must be >= {minimum}")
    return value


def is_watch(query: Query) -> bool:
    return bool(flag(query, "watch"))


def dry_run(values: list[str]) -> bool:
    """`dryRun=All` (the only stage there is); anything else is refused."""
    for value in values:
        if value != "All":
            raise errors.bad_request(
                f'Invalid dryRun value "{value}": supported values: "All"')
    return bool(values)


def list_options(query: Query, *, name: str = "") -> ListOptions:
    """Options of list, watch and deletecollection; `name` narrows to one object."""
    fields = query.get("fieldSelector", "")
    if name:
        fields = f"metadata.name={name}" + (f",{fields}" if fields else "")
    match = query.get("resourceVersionMatch", "")
    if match not in ("", "NotOlderThan", "Exact"):
        raise errors.bad_request(f'invalid value for resourceVersionMatch: "{match}"')
    return ListOptions(
        label_selector=query.get("labelSelector", ""),
        field_selector=fields,
        limit=integer(query, "limit", minimum=0) or 0,
        continue_token=query.get("continue", ""),
        resource_version=query.get("resourceVersion", ""),
        resource_version_match=match,
        allow_bookmarks=bool(flag(query, "allowWatchBookmarks")),
        timeout_seconds=integer(query, "timeoutSeconds", minimum=0),
        send_initial_events=flag(query, "sendInitialEvents"),
    )


def write_options(query: Query, dry_run_values: list[str], user: UserInfo | None) -> WriteOptions:
    validation = query.get("fieldValidation", "") or "Warn"
    if validation not in FIELD_VALIDATION:
        raise errors.bad_request(
            f'fieldValidation: Unsupported value: "{validation}": supported values: '
            '"Ignore", "Strict", "Warn"')
    manager = query.get("fieldManager", "")
    if len(manager) > MAX_FIELD_MANAGER:
        raise errors.bad_request(
            f"fieldManager: Too long: may not be more than {MAX_FIELD_MANAGER} bytes")
    return WriteOptions(dry_run=dry_run(dry_run_values), field_validation=validation,
                        field_manager=manager, user=user)


def delete_options(query: Query, dry_run_values: list[str],
                   body: dict[str, Any] | None) -> DeleteOptions:
    """DeleteOptions from the query, with a DeleteOptions body (kubectl sends one) on top."""
    body = body or {}
    grace = body.get("gracePeriodSeconds", integer(query, "gracePeriodSeconds"))
    policy = body.get("propagationPolicy", query.get("propagationPolicy") or None)
    orphan = body.get("orphanDependents", flag(query, "orphanDependents"))
    body_dry = body.get("dryRun")
    preconditions = body.get("preconditions") or {}
    if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)):
        raise errors.bad_request("gracePeriodSeconds must be an integer")
    if policy is not None and policy not in PROPAGATION:
        raise errors.bad_request(
            f'propagationPolicy: Unsupported value: "{policy}": supported values: '
            '"Foreground", "Background", "Orphan"')
    if orphan is not None and not isinstance(orphan, bool):
        raise errors.bad_request("orphanDependents must be a boolean")
    if orphan is not None and policy is not None:
        raise errors.bad_request(
            "orphanDependents: Invalid value: may not be set together with propagationPolicy")
    if not isinstance(preconditions, dict) or (
            body_dry is not None and not isinstance(body_dry, list)):
        raise errors.bad_request("malformed DeleteOptions")
    return DeleteOptions(
        grace_period_seconds=grace, propagation_policy=policy, orphan_dependents=orphan,
        precondition_uid=preconditions.get("uid"),
        precondition_resource_version=preconditions.get("resourceVersion"),
        dry_run=dry_run([str(v) for v in (body_dry or [])] + dry_run_values),
    )


def include_object(query: Query) -> str:
    value = query.get("includeObject", "") or "Metadata"
    if value not in INCLUDE_OBJECT:
        raise errors.bad_request(
            f'includeObject: Unsupported value: "{value}": supported values: '
            '"None", "Metadata", "Object"')
    return value
