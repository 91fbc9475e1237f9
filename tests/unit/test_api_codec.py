"""Request bodies decode like the apiserver decodes them, and bad ones are clean 4xx."""

from __future__ import annotations

import pytest

from minikube13.api import codec
from minikube13.registry.errors import StatusError


def test_json_and_yaml_objects() -> None:
    """JSON and YAML bodies give the same object; YAML timestamps stay strings."""
    j = codec.decode_object(b'{"kind":"Pod","metadata":{"name":"a"}}', "application/json")
    y = codec.decode_object(b"kind: Pod\nmetadata:\n  name: a\n", "application/yaml")
    assert j == y
    t = codec.decode_object(b"a: 2020-01-01T00:00:00Z\n1: x\n", "application/yaml")
    assert t == {"a": "2020-01-01T00:00:00Z", "1": "x"}


@pytest.mark.parametrize("body,ctype", [
    (b"{", "application/json"), (b"[1,2]", "application/json"), (b"\xff", "application/json"),
    (b"a: [", "application/yaml"), (b"a: 1\n---\nb: 2\n", "application/yaml"),
    (b'{"a": NaN}', "application/json"), (b"[" * 100000, "application/json"),
])
def test_malformed_bodies_are_400(body: bytes, ctype: str) -> None:
    """Broken JSON/YAML, non-objects and pathological nesting are 400 BadRequest."""
    with pytest.raises(StatusError) as e:
        codec.decode_object(body, ctype)
    assert e.value.code == 400


def test_yaml_bomb_is_refused() -> None:
    """A YAML alias bomb is refused instead of expanding into gigabytes."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(StatusError) as e:
        codec.decode_object("\n".join(lines).encode(), "application/yaml")
    assert e.value.code in (400, 413)


def test_media_types() -> None:
    """Unknown content types are 415; patches take only the three patch types."""
    with pytest.raises(StatusError) as e:
        codec.decode_object(b"{}", "application/cbor")
    assert e.value.code == 415
    with pytest.raises(StatusError) as e:
        codec.decode_object(b"{}", "application/vnd.kubernetes.protobuf")
    assert e.value.code == 400  # protobuf is understood; this body is not protobuf
    with pytest.raises(StatusError) as e:
        codec.decode_patch(b"{}", "application/json")
    assert e.value.code == 415
    assert codec.decode_patch(b'[{"op":"remove","path":"/a"}]',
                              "application/json-patch+json")[0] == codec.JSON_PATCH
    assert codec.decode_patch(b"metadata:\n  labels: {a: b}\n",
                              "application/merge-patch+json; charset=utf-8")[1] == {
        "metadata": {"labels": {"a": "b"}}}
    with pytest.raises(StatusError):
        codec.decode_patch(b'{"op":"x"}', "application/json-patch+json")


def test_accept_and_warning() -> None:
    """Accept entries keep their parameters; warnings are quoted 299 headers."""
    entries = codec.parse_accept(
        "application/json;as=Table;v=v1;g=meta.k8s.io, application/json")
    assert entries[0].transform == ("Table", "meta.k8s.io", "v1")
    assert entries[1].transform == ("", "", "")
    assert codec.warning_header('unknown field "spec.x"') == '299 - "unknown field \\"spec.x\\""'
