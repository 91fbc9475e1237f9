"""Kubernetes protobuf request bodies -> JSON-shaped objects (decode only).

Pure. kubectl's typed commands (`create namespace`, `create secret tls`, `create configmap`,
`create deployment`, ...) send `application/vnd.kubernetes.protobuf`: the bytes "k8s\\0",
then a runtime.Unknown {typeMeta{apiVersion, kind}, raw} whose `raw` is the object's
message. Field tables come from `protobuf_schema` (generated from Kubernetes' .proto files).
We answer in JSON, which those clients accept too.

Go's protobuf encoder writes every non-pointer field, zero or not; Go's JSON encoder omits
those zeros, so the decoder drops zero scalars unless the Go field is a pointer (where a
zero, like `replicas: 0`, was set on purpose).
"""

from __future__ import annotations

import base64
import functools
import json
import struct
from datetime import UTC, datetime
from typing import Any

from minikube13.registry import errors

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_GROUP_PACKAGES = {"": "core", "rbac.authorization.k8s.io": "rbac",
                   "coordination.k8s.io": "coordination",
                   "authentication.k8s.io": "authentication"}
_ZERO_TIME_S = -62135596800  # Go's zero time.Time (year 1) in Unix seconds


class _Malformed(Exception):
    pass


def message_for(api_version: str, kind: str) -> str | None:
    group, _, version = api_version.rpartition("/")
    if group == "meta.k8s.io" or (kind == "DeleteOptions" and group == ""):
        name = _META + kind
    else:
        name = f"k8s.io.api.{_GROUP_PACKAGES.get(group, group)}.{version}.{kind}"
    return name if name in _messages() else None


def decode_object(raw: bytes) -> dict[str, Any]:
    """The object in a protobuf body, with its apiVersion and kind; 400/415 when not."""
    if not raw.startswith(MAGIC):
        raise errors.bad_request("protobuf body does not start with the k8s magic prefix")
    try:
        unknown = _fields(raw[len(MAGIC):])
        type_meta = _fields(_bytes_of(unknown.get(1, [b""])[-1]))
        api_version = _text(type_meta.get(1, [b""])[-1])
        kind = _text(type_meta.get(2, [b""])[-1])
        name = message_for(api_version, kind)
        if name is None:
            raise errors.unsupported_media_type(f"{MEDIA_TYPE} for {api_version} {kind}")
        obj = _message(name, _bytes_of(unknown.get(2, [b""])[-1]))
    except (_Malformed, UnicodeDecodeError, IndexError, ValueError) as e:
        raise errors.bad_request(f"error decoding protobuf body: {e}") from None
    return {"apiVersion": api_version, "kind": kind, **obj}


# -- the wire format ----------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Malformed("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> dict[int, list[int | bytes]]:
    """field number -> the values found, in order (ints for varints, bytes otherwise)."""
    out: dict[int, list[int | bytes]] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        num, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise _Malformed("truncated field")
            value, pos = data[pos:pos + size], pos + size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, pos = data[pos:pos + width], pos + width
        else:
            raise _Malformed(f"unsupported wire type {wire}")
        out.setdefault(num, []).append(value)
    return out


def _bytes_of(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise _Malformed("expected a length-delimited field")
    return value


def _text(value: int | bytes) -> str:
    return _bytes_of(value).decode("utf-8")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value



@functools.cache
def _messages() -> dict[str, Any]:
    """The generated field tables, loaded on first use: they cost the daemon ~2 MB resident
    and only kubectl's typed `create` commands send protobuf."""
    from minikube13.api.protobuf_schema import MESSAGES
    return MESSAGES


# -- messages -----------------------------------------------------------------------------


def _message(name: str, data: bytes) -> Any:
    special = _SPECIAL.get(name)
    fields = _fields(data)
    if special is not None:
        return special(fields)
    table = _messages()[name]
    out: dict[str, Any] = {}
    for num, values in fields.items():
        spec = table.get(num)
        if spec is None:
            continue  # a field newer than our tables: ignored, as protobuf does
        json_name, typ, ref, repeated, pointer = spec
        if typ == "map":
            out[json_name] = _map(ref, values)
        elif repeated:
            out[json_name] = [v for raw in values for v in _repeated(typ, ref, raw)]
        else:
            value = _scalar(typ, ref, values[-1])
            if value is None or (not pointer and value in ("", 0, False) and
                                 not isinstance(value, dict)):
                continue
            out[json_name] = value
    return out


def _repeated(typ: str, ref: str, raw: int | bytes) -> list[Any]:
    if typ in ("int32", "int64") and isinstance(raw, bytes):  # packed
        values, pos = [], 0
        while pos < len(raw):
            v, pos = _varint(raw, pos)
            values.append(_signed(v))
        return values
    return [_scalar(typ, ref, raw)]


def _scalar(typ: str, ref: str, raw: int | bytes) -> Any:
    if typ == "message":
        return _message(ref, _bytes_of(raw))
    if typ == "string":
        return _text(raw)
    if typ == "bytes":
        return base64.b64encode(_bytes_of(raw)).decode("ascii")
    if typ == "bool":
        return bool(raw)
    if typ in ("int32", "int64", "uint32", "uint64"):
        if not isinstance(raw, int):
            raise _Malformed("expected a varint")
        return _signed(raw)
    if typ in ("double", "float"):
        return struct.unpack("<d" if typ == "double" else "<f", _bytes_of(raw))[0]
    raise _Malformed(f"unsupported type {typ}")


def _map(ref: str, entries: list[int | bytes]) -> dict[str, Any]:
    key_type, value_type = ref.split(",", 1)
    value_kind = value_type if value_type in ("string", "bytes", "int32", "int64", "bool") \
        else "message"
    out: dict[str, Any] = {}
    for entry in entries:
        fields = _fields(_bytes_of(entry))
        key = _scalar(key_type, "", fields[1][-1]) if 1 in fields else ""
        if 2 in fields:
            value = _scalar(value_kind, value_type, fields[2][-1])
        else:
            value = {"string": "", "bytes": "", "bool": False}.get(value_kind, 0) \
                if value_kind != "message" else {}
        out[str(key)] = value
    return out


# -- types whose JSON form is not their message shape -------------------------------------


def _time(fields: dict[int, list[int | bytes]], micro: bool = False) -> str | None:
    seconds = _signed(int(fields.get(1, [0])[-1]))
    nanos = int(fields.get(2, [0])[-1])
    if seconds == _ZERO_TIME_S or (seconds == 0 and nanos == 0 and not fields):
        return None
    at = datetime.fromtimestamp(seconds, UTC)
    if micro:
        return at.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(fields: dict[int, list[int | bytes]]) -> int | str:
    if int(fields.get(1, [0])[-1]) == 1:
        return _text(fields.get(3, [b""])[-1])
    return _signed(int(fields.get(2, [0])[-1]))


def _quantity(fields: dict[int, list[int | bytes]]) -> str:
    return _text(fields.get(1, [b""])[-1])


def _raw_extension(fields: dict[int, list[int | bytes]]) -> Any:
    raw = _bytes_of(fields.get(1, [b""])[-1])
    return json.loads(raw) if raw else None


def _duration(fields: dict[int, list[int | bytes]]) -> str:
    nanos = _signed(int(fields.get(1, [0])[-1]))
    return f"{nanos / 1e9:g}s"


_SPECIAL = {
    _META + "Time": _time,
    _META + "MicroTime": lambda f: _time(f, micro=True),
    _META + "Duration": _duration,
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": _int_or_string,
    "k8s.io.apimachinery.pkg.api.resource.Quantity": _quantity,
    "k8s.io.apimachinery.pkg.runtime.RawExtension": _raw_extension,
    _META + "FieldsV1": _raw_extension,
}
