"""Join tokens (pure): `K10<sha256 hex of the CA PEM>::<id>.<secret>`, as k3s writes them, and
their Secrets `kube-system/bootstrap-token-<id>` (type bootstrap.kubernetes.io/token), as
kubeadm stores bootstrap tokens.

The hash pins the cluster CA: a joining node fetches /cacerts unverified and trusts it only
when its sha256 matches. `<id>.<secret>` is the bearer token the join request carries; the
server finds the Secret by id and compares the secret in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from minikube13.cluster import ClusterError

Object = dict[str, Any]

PREFIX = "K10"
NAMESPACE = "kube-system"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
BOOTSTRAP_USER_PREFIX = "system:bootstrap:"
BOOTSTRAPPERS = "system:bootstrappers"
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
ID_LENGTH = 6
SECRET_LENGTH = 16
DEFAULT_TTL = timedelta(hours=24)

_BEARER = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")


class TokenError(ClusterError):
    """A token (or a duration) that cannot be used; the message says why."""


class RandomSource(Protocol):
    """What token generation needs of a random generator (random.SystemRandom fits)."""

    def choice(self, seq: Sequence[str]) -> str: ...


@dataclass(frozen=True)
class JoinToken:
    ca_hash: str  # sha256 hex of the CA PEM the server hands out at /cacerts
    token_id: str
    secret: str

    @property
    def bearer(self) -> str:
        return f"{self.token_id}.{self.secret}"

    def __str__(self) -> str:
        return f"{PREFIX}{self.ca_hash}::{self.bearer}"


@dataclass(frozen=True)
class TokenInfo:
    """What `token list` shows of a stored token (never its secret)."""

    token_id: str
    expires: datetime | None
    description: str
    usages: tuple[str, ...]


def ca_hash(ca_pem: bytes) -> str:
    return hashlib.sha256(ca_pem).hexdigest()


def new_token(ca_pem: bytes, rng: RandomSource) -> JoinToken:
    """A fresh token for this CA; pass a cryptographic generator (random.SystemRandom)."""
    def draw(n: int) -> str:
        return "".join(rng.choice(ID_ALPHABET) for _ in range(n))
    return JoinToken(ca_hash(ca_pem), draw(ID_LENGTH), draw(SECRET_LENGTH))


def parse_token(text: str) -> JoinToken:
    """`K10<hash>::<id>.<secret>` -> JoinToken; TokenError says what is wrong."""
    text = text.strip()
    if not text.startswith(PREFIX) or "::" not in text:
        raise TokenError("not a join token: expected K10<ca-sha256>::<id>.<secret> "
                         "(`minikube13 token create` on a server prints one)")
    digest, _, bearer = text[len(PREFIX):].partition("::")
    if not _HASH.match(digest):
        raise TokenError("join token: the CA hash after K10 must be 64 lower-case hex digits")
    parsed = parse_bearer(bearer)
    if parsed is None:
        raise TokenError("join token: expected <id>.<secret> after '::' (id: 6, secret: 16 "
                         "characters of a-z and 0-9)")
    return JoinToken(digest, *parsed)


def parse_bearer(text: str) -> tuple[str, str] | None:
    """`<id>.<secret>` -> (id, secret), or None when it is not a bootstrap token."""
    match = _BEARER.match(text.strip())
    return (match.group(1), match.group(2)) if match else None


def token_id_of(text: str) -> str:
    """The id in a bare id, an `<id>.<secret>` or a full join token (`token revoke` takes any)."""
    text = text.strip()
    if re.fullmatch(r"[a-z0-9]{6}", text):
        return text
    parsed = parse_bearer(text)
    if parsed is not None:
        return parsed[0]
    return parse_token(text).token_id


def secret_name(token_id: str) -> str:
    return SECRET_PREFIX + token_id


def parse_duration(text: str) -> timedelta | None:
    """A Go-style duration (`24h`, `1h30m`, `90s`); `0` means never (None)."""
    compact = text.strip()
    if compact == "0":
        return None
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise TokenError(f"not a duration: {text!r} (like 24h, 1h30m, 90s; 0 = never expires)")
    unit = {"h": 3600.0, "m": 60.0, "s": 1.0}
    seconds = sum(float(n) * unit[u] for n, u in parts)
    if seconds <= 0:
        return None
    return timedelta(seconds=seconds)


def token_secret(token: JoinToken, now: datetime, ttl: timedelta | None,
                 description: str = "") -> Object:
    """The Secret that stores `token` (expiring `ttl` after `now`; None: never)."""
    data = {"token-id": token.token_id, "token-secret": token.secret,
            "usage-bootstrap-authentication": "true"}
    if ttl is not None:
        data["expiration"] = _rfc3339(now + ttl)
    if description:
        data["description"] = description
    return {
        "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
        "metadata": {"name": secret_name(token.token_id), "namespace": NAMESPACE},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def token_info(secret: Object) -> TokenInfo | None:
    """What a bootstrap-token Secret says, or None for any other Secret."""
    if secret.get("type") != SECRET_TYPE:
        return None
    data = _decoded(secret.get("data") or {})
    token_id = data.get("token-id", "")
    if secret_name(token_id) != (secret.get("metadata") or {}).get("name"):
        return None
    usages = tuple(sorted(k.removeprefix("usage-bootstrap-") for k, v in data.items()
                          if k.startswith("usage-bootstrap-") and v == "true"))
    return TokenInfo(token_id, _parse_time(data.get("expiration", "")),
                     data.get("description", ""), usages)


def authenticates(secret: Object, token_id: str, token_secret_text: str,
                  now: datetime) -> bool:
    """Whether `<id>.<secret>` is valid by this Secret: right type and id, the secret equal
    (constant time), usable for authentication, not expired and not being deleted."""
    info = token_info(secret)
    if info is None or info.token_id != token_id or "authentication" not in info.usages:
        return False
    if (secret.get("metadata") or {}).get("deletionTimestamp"):
        return False
    expiration = _decoded(secret.get("data") or {}).get("expiration")
    if expiration and (info.expires is None or info.expires <= now):
        return False  # an unreadable expiration counts as expired
    stored = _decoded(secret.get("data") or {}).get("token-secret", "")
    return hmac.compare_digest(stored.encode(), token_secret_text.encode())


def extra_groups(secret: Object) -> tuple[str, ...]:
    """auth-extra-groups, limited like the apiserver to system:bootstrappers:* names."""
    raw = _decoded(secret.get("data") or {}).get("auth-extra-groups", "")
    groups = (g.strip() for g in raw.split(","))
    return tuple(g for g in groups if g.startswith(BOOTSTRAPPERS + ":"))


def ttl_text(expires: datetime | None, now: datetime) -> str:
    """kubeadm's TTL column: `23h`, `59m`, `<forever>`, `<invalid>` once expired."""
    if expires is None:
        return "<forever>"
    left = (expires - now).total_seconds()
    if left <= 0:
        return "<invalid>"
    if left >= 3600:
        return f"{int(left // 3600)}h"
    if left >= 60:
        return f"{int(left // 60)}m"
    return f"{int(left)}s"


def _decoded(data: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        try:
            out[key] = base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, ValueError):
            continue
    return out


def _rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
