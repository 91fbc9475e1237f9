"""Join tokens: the K10<ca-sha256>::<id>.<secret> format, its parse errors, the CA pin, the
bootstrap-token Secret kubeadm-style, and the node identity fingerprint."""

from __future__ import annotations

import base64
import hashlib
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from minikube13.cluster import keys, tokens
from minikube13.cluster.tokens import TokenError

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
FULL = re.compile(r"^K10[0-9a-f]{64}::[a-z0-9]{6}\.[a-z0-9]{16}$")


def made(seed: int = 1) -> tokens.JoinToken:
    return tokens.new_token(CA_PEM, random.Random(seed))


def test_new_token_has_the_k3s_shape_and_pins_the_ca() -> None:
    """A new token reads K10<sha256 of the CA PEM>::<6 chars>.<16 chars>."""
    token = made()
    assert FULL.match(str(token))
    assert token.ca_hash == hashlib.sha256(CA_PEM).hexdigest()
    assert token.bearer == f"{token.token_id}.{token.secret}"


def test_tokens_differ_and_a_seed_repeats() -> None:
    """Two draws give two tokens; the same seed gives the same token (pure core)."""
    assert str(made(1)) != str(made(2))
    assert str(made(3)) == str(made(3))


def test_parse_round_trips() -> None:
    """Parsing a printed token gives back the same hash, id and secret."""
    token = made()
    assert tokens.parse_token(f"  {token}\n") == token


@pytest.mark.parametrize("text, why", [
    ("abcdef.0123456789abcdef", "not a join token"),
    ("K10" + "a" * 63 + "::abcdef.0123456789abcdef", "64 lower-case hex"),
    ("K10" + "A" * 64 + "::abcdef.0123456789abcdef", "64 lower-case hex"),
    ("K10" + "a" * 64 + "::abcde.0123456789abcdef", "<id>.<secret>"),
    ("K10" + "a" * 64 + "::abcdef.0123456789abcde", "<id>.<secret>"),
    ("K10" + "a" * 64 + "::ABCDEF.0123456789abcdef", "<id>.<secret>"),
    ("K10" + "a" * 64 + "::abcdef0123456789abcdef", "<id>.<secret>"),
    ("K10" + "a" * 64, "not a join token"),
])
def test_parse_errors_say_what_is_wrong(text: str, why: str) -> None:
    """A malformed token is refused with a message naming the broken part."""
    with pytest.raises(TokenError, match=re.escape(why)):
        tokens.parse_token(text)


def test_another_ca_does_not_match_the_pin() -> None:
    """One byte of difference in the CA PEM breaks the pin."""
    token = made()
    assert tokens.ca_hash(CA_PEM) == token.ca_hash
    assert tokens.ca_hash(CA_PEM.replace(b"MIIB", b"MIIC")) != token.ca_hash


def test_token_id_of_takes_id_bearer_or_full_token() -> None:
    """`token revoke` accepts the id, <id>.<secret> or the whole token."""
    token = made()
    for text in (token.token_id, token.bearer, str(token)):
        assert tokens.token_id_of(text) == token.token_id
    with pytest.raises(TokenError):
        tokens.token_id_of("nope")


def _data(secret: dict[str, object]) -> dict[str, str]:
    data = secret["data"]
    assert isinstance(data, dict)
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def test_secret_is_stored_like_kubeadm() -> None:
    """kube-system/bootstrap-token-<id>, type bootstrap.kubernetes.io/token, base64 data."""
    token = made()
    secret = tokens.token_secret(token, T0, timedelta(hours=24), "for rack 3")
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert secret["metadata"] == {"name": f"bootstrap-token-{token.token_id}",
                                  "namespace": "kube-system"}
    assert _data(secret) == {"token-id": token.token_id, "token-secret": token.secret,
                             "usage-bootstrap-authentication": "true",
                             "expiration": "2026-11-27T12:00:00Z",
                             "description": "for rack 3"}
    info = tokens.token_info(secret)
    assert info == tokens.TokenInfo(token.token_id, T0 + timedelta(hours=24), "for rack 3",
                                    ("authentication",))


def test_authenticates_only_the_right_secret_before_expiry() -> None:
    """The right secret passes until the expiration; a wrong one or a late one fails."""
    token = made()
    secret = tokens.token_secret(token, T0, timedelta(hours=1))
    assert tokens.authenticates(secret, token.token_id, token.secret, T0)
    assert not tokens.authenticates(secret, token.token_id, "x" * 16, T0)
    assert not tokens.authenticates(secret, "zzzzzz", token.secret, T0)
    assert not tokens.authenticates(secret, token.token_id, token.secret,
                                    T0 + timedelta(hours=1))


def test_no_ttl_never_expires() -> None:
    """--ttl 0 writes no expiration, and the token works years later."""
    token = made()
    secret = tokens.token_secret(token, T0, tokens.parse_duration("0"))
    assert "expiration" not in _data(secret)
    assert tokens.authenticates(secret, token.token_id, token.secret,
                                T0 + timedelta(days=3650))


def test_refused_when_not_for_authentication_deleting_or_another_type() -> None:
    """Usage off, a deletionTimestamp, another Secret type or a bad expiration: refused."""
    token = made()
    good = tokens.token_secret(token, T0, timedelta(hours=1))
    usage_off = {**good, "data": {**good["data"],
                                  "usage-bootstrap-authentication": base64.b64encode(b"false").decode()}}
    deleting = {**good, "metadata": {**good["metadata"], "deletionTimestamp": "2026-11-26T12:00:00Z"}}
    opaque = {**good, "type": "Opaque"}
    garbled = {**good, "data": {**good["data"], "expiration": base64.b64encode(b"soon").decode()}}
    for secret in (usage_off, deleting, opaque, garbled):
        assert not tokens.authenticates(secret, token.token_id, token.secret, T0)


def test_extra_groups_only_under_system_bootstrappers() -> None:
    """auth-extra-groups may add system:bootstrappers:* groups and nothing else."""
    secret = tokens.token_secret(made(), T0, None)
    secret["data"]["auth-extra-groups"] = base64.b64encode(
        b"system:bootstrappers:edge, system:masters").decode()
    assert tokens.extra_groups(secret) == ("system:bootstrappers:edge",)


@pytest.mark.parametrize("text, seconds", [
    ("24h", 86400), ("1h30m", 5400), ("90s", 90), ("2h0m0s", 7200), ("1.5h", 5400)])
def test_durations(text: str, seconds: float) -> None:
    """--ttl takes Go durations."""
    assert tokens.parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "24", "1d", "h", "-1h", "1h 30m"])
def test_bad_durations(text: str) -> None:
    """A duration that is not Go's shape is refused."""
    with pytest.raises(TokenError, match="not a duration"):
        tokens.parse_duration(text)


def test_ttl_column() -> None:
    """TTL shows hours, minutes, <forever>, and <invalid> once expired."""
    assert tokens.ttl_text(T0 + timedelta(hours=23, minutes=59), T0) == "23h"
    assert tokens.ttl_text(T0 + timedelta(minutes=5), T0) == "5m"
    assert tokens.ttl_text(None, T0) == "<forever>"
    assert tokens.ttl_text(T0 - timedelta(seconds=1), T0) == "<invalid>"


def test_fingerprint_is_the_spki_sha256_prefix(tmp_path: Path) -> None:
    """The `id` tag equals sha256(SubjectPublicKeyInfo DER)[:32], read without cryptography,
    and it survives a new certificate over the same key."""
    from minikube13.auth import pki
    from minikube13.cluster import nodecert
    paths = pki.ensure_pki(tmp_path / "pki", pki.serving_names("n", "127.0.0.1"))
    assert nodecert.ensure_node_cert(paths.root, "n1", T0)
    cert = x509.load_pem_x509_certificate((paths.root / "node.crt").read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    expected = hashlib.sha256(spki).hexdigest()[:32]
    assert keys.node_fingerprint(tmp_path) == expected
    assert cert.subject.rfc4514_string() == "CN=system:node:n1,O=system:nodes"
    assert not nodecert.ensure_node_cert(paths.root, "n1", T0)  # still good: kept
    assert nodecert.ensure_node_cert(paths.root, "n1", T0 + timedelta(days=360))  # renewed
    assert keys.node_fingerprint(tmp_path) == expected


def test_gossip_key_made_once_0600(tmp_path: Path) -> None:
    """The gossip key is 32 bytes, base64 in a 0600 file, and the same on every call."""
    key = keys.ensure_gossip_key(tmp_path)
    assert len(key) == 32
    path = tmp_path / "gossip.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert base64.b64decode(path.read_text().strip()) == key
    assert keys.ensure_gossip_key(tmp_path) == key
