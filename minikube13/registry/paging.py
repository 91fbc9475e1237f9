"""LIST: selectors, resourceVersion semantics and limit/continue paging over the store.

A continue token is the apiserver's own shape, base64 of
`{"v":"meta.k8s.io/v1","rv":<revision>,"start":"<key after the prefix>\\u0000"}`: every page
of one list is read at the revision of the first, and a token whose revision has been
compacted answers 410 Expired.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minikube13.model.kinds import ResourceInfo
from minikube13.model.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_fields,
    parse_labels,
)
from minikube13.registry import facade
from minikube13.registry.errors import StatusError, bad_request, gone
from minikube13.registry.metadata import decode, parse_resource_version, prefix
from minikube13.registry.options import ListOptions
from minikube13.store.interface import Compacted, FutureRevision, Store

Object = dict[str, Any]

CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You "
    "can start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list.")

# With a selector, read this many keys per store call while filling one page.
_SELECTOR_CHUNK = 500


@dataclass(frozen=True)
class Matcher:
    """Label and field selectors of one request, applied to canonical objects."""

    info: ResourceInfo
    labels: LabelSelector
    fields: FieldSelector

    @property
    def everything(self) -> bool:
        return self.labels.empty and self.fields.empty

    def __call__(self, obj: Object) -> bool:
        meta = obj.get("metadata") or {}
        if not self.labels.matches(meta.get("labels") or {}):
            return False
        return self.fields.empty or self.fields.matches(facade.field_labels(self.info, obj))


def matcher(info: ResourceInfo, opts: ListOptions) -> Matcher:
    """Parse both selectors (400 BadRequest for bad syntax or an unsupported field)."""
    try:
        labels = parse_labels(opts.label_selector)
        fields = parse_fields(opts.field_selector)
    except SelectorError as err:
        raise bad_request(str(err)) from err
    facade.check_field_selector(info, fields)
    return Matcher(info, labels, fields)


def encode_continue(revision: int, relative_key: str) -> str:
    doc = {"v": "meta.k8s.io/v1", "rv": revision, "start": relative_key + "\x00"}
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def decode_continue(token: str) -> tuple[int, str]:
    """(revision, key relative to the list prefix to start after)."""
    try:
        padded = token + "=" * (-len(token) % 4)
        doc = json.loads(base64.urlsafe_b64decode(padded.encode()))
        revision, start = int(doc["rv"]), str(doc["start"])
    except (binascii.Error, ValueError, KeyError, TypeError) as err:
        raise bad_request(f"continue key is not valid: {err}") from err
    if doc.get("v") != "meta.k8s.io/v1" or revision <= 0:
        raise bad_request("continue key is not valid: incorrect encoded start "
                          "resourceVersion (version meta.k8s.io/v1)")
    start = start.removesuffix("\x00")
    if start.startswith("/") or ".." in start.split("/"):
        raise bad_request("continue key is not valid: key must not be absolute or contain ..")
    return revision, start


def list_options_errors(opts: ListOptions) -> None:
    if opts.resource_version_match and not opts.resource_version:
        raise bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
    if opts.resource_version_match not in ("", "NotOlderThan", "Exact"):
        raise bad_request(f'resourceVersionMatch: Unsupported value: '
                          f'"{opts.resource_version_match}": supported values: "Exact", '
                          f'"NotOlderThan"')
    if opts.continue_token and opts.resource_version not in ("", "0"):
        raise bad_request("specifying resource version is not allowed when using continue")
    if opts.limit < 0:
        raise bad_request("limit: Invalid value: must be non-negative")


async def read_revision(store: Store, opts: ListOptions) -> int:
    """The store revision a list reads at: 0 (latest) unless an exact one is asked for."""
    rv = opts.resource_version
    if rv in ("", "0"):
        return 0
    wanted = parse_resource_version(rv)
    exact = opts.resource_version_match == "Exact" or (
        opts.resource_version_match == "" and opts.limit > 0)
    current = await store.current_revision()
    if wanted > current:
        raise StatusError(504, "Timeout", f"Too large resource version: {wanted}, current: "
                          f"{current}", {"causes": [{"reason": "ResourceVersionTooLarge",
                                                     "message": "Too large resource version"}],
                                         "retryAfterSeconds": 1})
    return wanted if exact else 0


@dataclass
class Page:
    items: list[Object]  # canonical objects with resourceVersion
    revision: int
    next_start: str | None  # relative key of the last item when more may follow


async def read_page(store: Store, info: ResourceInfo, namespace: str, opts: ListOptions,
                    match: Callable[[Object], bool], everything: bool) -> Page:
    list_options_errors(opts)
    base = prefix(info, namespace)
    revision, start_after = 0, ""
    if opts.continue_token:
        revision, relative = decode_continue(opts.continue_token)
        start_after = base + relative
    else:
        revision = await read_revision(store, opts)
    try:
        return await _fill(store, base, revision, start_after, opts.limit, match, everything)
    except Compacted as err:
        if opts.continue_token:
            raise gone(CONTINUE_EXPIRED) from err
        raise gone(f"too old resource version: {err.requested} ({err.compacted})") from err
    except FutureRevision as err:
        raise StatusError(504, "Timeout", f"Too large resource version: {revision}") from err


async def _fill(store: Store, base: str, revision: int, start_after: str, limit: int,
                match: Callable[[Object], bool], everything: bool) -> Page:
    items: list[Object] = []
    chunk = limit if everything or not limit else max(limit, _SELECTOR_CHUNK)
    while True:
        result = await store.list(base, revision=revision, start_after=start_after, limit=chunk)
        revision = result.revision
        for index, kv in enumerate(result.items):
            start_after = kv.key
            obj = decode(kv)
            if not match(obj):
                continue
            items.append(obj)
            if limit and len(items) == limit:
                more = result.more or index < len(result.items) - 1
                return Page(items, revision, kv.key[len(base):] if more else None)
        if not result.more:
            return Page(items, revision, None)

