"""Wire formats: media types, request body decoding (JSON/YAML) and response encoding.

Pure: bytes in, Python values out, every failure a `StatusError` (400 for bodies that do not
parse, 415 for media types we do not speak, 406 for an Accept we cannot satisfy).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
from dataclasses import dataclass, field
from typing import Any

from minikube13.api import protobuf
from minikube13.registry import errors

JSON = "application/json"
YAML = "application/yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH)
_YAML_ALIASES = ("application/yaml", "application/x-yaml", "text/yaml")

# Decoded bodies may hold at most this many values: YAML anchors can make a small document
# expand into an enormous one (the "billion laughs"), which we refuse instead of serving.
MAX_DECODED_VALUES = 1_000_000
_MAX_DEPTH = 200


@dataclass(frozen=True)
class MediaType:
    """One entry of a Content-Type or Accept header: `type/subtype;k=v;...`."""

    full: str  # "application/json" (lower case, no parameters)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def transform(self) -> tuple[str, str, str]:
        """(as, g, v): the object transformation asked for, empty strings when none."""
        return self.params.get("as", ""), self.params.get("g", ""), self.params.get("v", "")


def parse_media_type(text: str) -> MediaType:
    parts = [p.strip() for p in text.split(";")]
    params: dict[str, str] = {}
    for p in parts[1:]:
        key, _, value = p.partition("=")
        if key:
            params[key.strip().lower()] = value.strip().strip('"')
    return MediaType(parts[0].lower(), params)


def parse_accept(header: str) -> list[MediaType]:
    """Accept entries in the order the client listed them (clients list preference first)."""
    entries = [parse_media_type(p) for p in header.split(",") if p.strip()]
    return [e for e in entries if e.params.get("q", "1") not in ("0", "0.0")]


# -- decoding -----------------------------------------------------------------------------


class _YamlError(Exception):
    """A YAML body that does not parse (wraps yaml.YAMLError, which is imported lazily)."""


@functools.cache
def _yaml_loader() -> type:
    """A SafeLoader that reads YAML as sigs.k8s.io/yaml does: timestamps stay strings.
    Built on first use: most clients send JSON, and PyYAML costs the daemon ~1 MB."""
    import yaml

    class K8sYamlLoader(yaml.SafeLoader):
        yaml_implicit_resolvers = {
            first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }

    return K8sYamlLoader


def _load_yaml(text: str) -> Any:
    import yaml
    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as e:
        raise _YamlError(str(e)) from None


def body_format(content_type: str, *, patch: bool) -> str:
    """The media type a body is in; raises 415 for one this endpoint does not take."""
    media = parse_media_type(content_type).full if content_type else JSON
    if patch:
        if media in PATCH_TYPES:
            return media
    elif media == JSON:
        return JSON
    elif media in _YAML_ALIASES:
        return YAML
    raise errors.unsupported_media_type(content_type)


def decode(raw: bytes, media: str) -> Any:
    """Parse a body; malformed input is a 400 BadRequest naming what was wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise errors.bad_request(f"the request body is not valid UTF-8: {e}") from None
    try:
        if media == YAML:
            value = _load_yaml(text)
        else:
            value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, _YamlError) as e:
        what = "yaml" if media == YAML else "json"
        raise errors.bad_request(f"error decoding {what} body: {_one_line(e)}") from None
    except RecursionError:
        raise errors.bad_request("the request body is nested too deeply") from None
    return _plain(value, [0], 0)


def decode_object(raw: bytes, content_type: str) -> dict[str, Any]:
    """A create/update body: one JSON, YAML or Kubernetes protobuf object."""
    if parse_media_type(content_type).full == protobuf.MEDIA_TYPE:
        return protobuf.decode_object(raw)
    value = decode(raw, body_format(content_type, patch=False))
    if not isinstance(value, dict):
        raise errors.bad_request(
            "the request body must be a JSON or YAML object, got "
            + ("nothing" if value is None else type(value).__name__))
    return value


def decode_patch(raw: bytes, content_type: str) -> tuple[str, Any]:
    """A PATCH body: (patch type, decoded patch). JSON patch is a list; the others objects."""
    media = body_format(content_type, patch=True)
    try:
        value = decode(raw, JSON)
    except errors.StatusError:
        if media == JSON_PATCH:
            raise
        value = decode(raw, YAML)  # the apiserver takes merge patches written in YAML too
    if media == JSON_PATCH and not isinstance(value, list):
        raise errors.bad_request("json patch must be a JSON array of operations")
    if media != JSON_PATCH and not isinstance(value, dict):
        raise errors.bad_request("a merge patch must be a JSON object")
    return media, value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON value {name}")


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:500]


def _plain(value: Any, count: list[int], depth: int) -> Any:
    """The JSON data model of a decoded value: string keys, no dates or bytes, bounded."""
    count[0] += 1
    if count[0] > MAX_DECODED_VALUES:
        raise errors.too_large("the request body expands to too many values")
    if depth > _MAX_DEPTH:
        raise errors.bad_request("the request body is nested too deeply")
    if isinstance(value, dict):
        return {_key(k): _plain(v, count, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, count, depth + 1) for v in value]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise errors.bad_request(f"unsupported value of type {type(value).__name__} in body")


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, str | int | float):
        return str(key)
    raise errors.bad_request(f"unsupported map key {key!r} in body")


# -- encoding -----------------------------------------------------------------------------


def encode(value: Any, media: str = JSON) -> bytes:
    if media == YAML:
        import yaml
        return yaml.safe_dump(value, default_flow_style=False, sort_keys=False,
                              allow_unicode=True).encode("utf-8")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_line(value: Any) -> bytes:
    """One watch event: compact JSON and a newline (clients decode a stream of values)."""
    return encode(value) + b"\n"


def warning_header(text: str) -> str:
    """An RFC 7234 warning as the apiserver sends it: `299 - "text"`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{" ".join(escaped.split())}"'
