"""Secrets: base64 data, stringData merging and kubernetes.io/tls certificate/key checks."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from minikube13.model import kinds, objects
from minikube13.model.errors import BadRequest, Invalid

_FOUND = kinds.find("", "v1", "secrets")
assert _FOUND is not None
SECRET = _FOUND


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def make_pair() -> tuple[bytes, bytes]:
    """A self-signed certificate and its private key, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def secret(**fields: Any) -> dict[str, Any]:
    return {"metadata": {"name": "s", "namespace": "default"}, **fields}


def admit(obj: dict[str, Any]) -> dict[str, Any]:
    out, _ = objects.admit(SECRET, objects.to_storage(SECRET, obj), None)
    return out


def invalid(obj: dict[str, Any]) -> list[str]:
    with pytest.raises(Invalid) as err:
        admit(obj)
    return [e.message() for e in err.value.errors]


def test_opaque_default_and_string_data_merged() -> None:
    """stringData is merged into data as base64 and the type defaults to Opaque."""
    out = admit(secret(data={"a": b64(b"1")}, stringData={"b": "two"}))
    assert out["type"] == "Opaque"
    assert out["data"] == {"a": b64(b"1"), "b": b64(b"two")}
    assert "stringData" not in out


def test_data_must_be_base64() -> None:
    """Data that is not base64 is a 400 naming the bad byte, like the apiserver's decoder."""
    with pytest.raises(BadRequest) as err:
        admit(secret(data={"a": "not base64!"}))
    assert "illegal base64 data at input byte 3" in str(err.value)


def test_tls_secret_with_matching_pair_is_accepted() -> None:
    """A kubernetes.io/tls secret with a matching certificate and key is stored."""
    cert, key = make_pair()
    out = admit(secret(type="kubernetes.io/tls", data={"tls.crt": b64(cert),
                                                       "tls.key": b64(key)}))
    assert out["type"] == "kubernetes.io/tls"


def test_tls_secret_needs_both_keys() -> None:
    """A TLS secret without tls.key is refused naming data[tls.key]."""
    cert, _ = make_pair()
    assert invalid(secret(type="kubernetes.io/tls", data={"tls.crt": b64(cert)})) == [
        "data[tls.key]: Required value"]


def test_tls_secret_key_must_match_certificate() -> None:
    """A key from another pair is refused on data[tls.key]."""
    cert, _ = make_pair()
    _, other_key = make_pair()
    got = invalid(secret(type="kubernetes.io/tls", data={"tls.crt": b64(cert),
                                                         "tls.key": b64(other_key)}))
    assert got == ["data[tls.key]: Invalid value: private key does not match the certificate "
                   "in tls.crt"]


def test_tls_secret_must_be_pem() -> None:
    """A certificate that is not PEM is refused on data[tls.crt]."""
    _, key = make_pair()
    got = invalid(secret(type="kubernetes.io/tls", data={"tls.crt": b64(b"junk"),
                                                         "tls.key": b64(key)}))
    assert got == ["data[tls.crt]: Invalid value: must contain a PEM-encoded X.509 certificate"]


def test_bad_data_key_is_named() -> None:
    """A data key with a slash is refused with the config-key message."""
    got = invalid(secret(data={"a/b": b64(b"x")}))
    assert got[0].startswith('data[a/b]: Invalid value: "a/b": a valid config key must consist')
