"""Kubernetes protobuf bodies (what kubectl's typed commands send) decode to JSON objects."""

from __future__ import annotations

import pytest

from minikube13.api import protobuf
from minikube13.registry.errors import StatusError


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _field(num: int, value: bytes | int) -> bytes:
    if isinstance(value, int):
        return _varint(num << 3) + _varint(value)
    return _varint(num << 3 | 2) + _varint(len(value)) + value


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _field(1, api_version.encode()) + _field(2, kind.encode())
    return protobuf.MAGIC + _field(1, type_meta) + _field(2, raw)


def test_secret_with_bytes_and_zero_fields() -> None:
    """A Secret's data is base64; empty non-pointer fields are dropped like Go's JSON."""
    meta = (_field(1, b"tls") + _field(2, b"") + _field(3, b"default")
            + _field(7, 0) + _field(8, _field(1, -62135596800))
            + _field(11, _field(1, b"app") + _field(2, b"web")))
    data = _field(2, _field(1, b"tls.crt") + _field(2, b"\x00\x01"))
    body = _envelope("v1", "Secret", _field(1, meta) + data + _field(3, b"kubernetes.io/tls"))
    obj = protobuf.decode_object(body)
    assert obj == {"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "tls", "namespace": "default",
                                "labels": {"app": "web"}},
                   "data": {"tls.crt": "AAE="}, "type": "kubernetes.io/tls"}


def test_pointer_zero_is_kept_and_int_or_string() -> None:
    """replicas: 0 (a pointer) survives; IntOrString and negative ints decode."""
    spec = _field(1, 0)  # replicas
    strategy = _field(4, _field(1, b"RollingUpdate") + _field(
        2, _field(1, _field(1, 1) + _field(3, b"25%"))))
    obj = protobuf.decode_object(_envelope("apps/v1", "Deployment", _field(2, spec + strategy)))
    assert obj["spec"]["replicas"] == 0
    assert obj["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == "25%"


@pytest.mark.parametrize("body,code", [
    (b"not protobuf", 400),
    (protobuf.MAGIC + b"\xff", 400),
    (_envelope("v1", "Widget", b""), 415),
    (_envelope("v1", "Pod", b"\x0a\x05ab"), 400),  # truncated
])
def test_bad_protobuf(body: bytes, code: int) -> None:
    """Garbage, truncated data and unknown kinds are 400/415, never a crash."""
    with pytest.raises(StatusError) as e:
        protobuf.decode_object(body)
    assert e.value.code == code
