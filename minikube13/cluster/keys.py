"""The cluster's gossip key and a node's identity fingerprint, without `cryptography`.

The gossip key is 32 random bytes (AES-256, as `serf keygen` makes), kept base64-encoded in
`<config-dir>/gossip.key` (0600), so `serf agent -encrypt "$(cat gossip.key)"` joins the
same pool. The first server makes it; agents get it from the join answer.

A node's identity is its key: `node_fingerprint` is the sha256 hex (first 32 characters) of
the SubjectPublicKeyInfo DER in `pki/node.crt`, read with a few lines of DER walking so the
daemon need not load `cryptography`. The key survives certificate renewal, so the
fingerprint does too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
from pathlib import Path

from minikube13.auth.files import write_atomic
from minikube13.cluster import ClusterError

log = logging.getLogger(__name__)

GOSSIP_KEY_FILE = "gossip.key"
NODE_CERT = Path("pki") / "node.crt"
GOSSIP_KEY_BYTES = 32
FINGERPRINT_CHARS = 32

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
_SEQUENCE = 0x30
_VERSION_TAG = 0xA0  # [0] EXPLICIT version, absent in v1 certificates


class KeyFileError(ClusterError):
    """A key or certificate file is unusable."""


def ensure_gossip_key(config_dir: Path) -> bytes:
    """The cluster's gossip key, made (32 random bytes) on the first call."""
    path = config_dir / GOSSIP_KEY_FILE
    try:
        return read_gossip_key(path)
    except FileNotFoundError:
        pass
    key = os.urandom(GOSSIP_KEY_BYTES)
    write_gossip_key(path, key)
    log.info("created gossip key path=%s", path)
    return key


def read_gossip_key(path: Path) -> bytes:
    """The key in `path` (base64 text; 32 raw bytes are accepted too)."""
    raw = path.read_bytes()
    if len(raw) == GOSSIP_KEY_BYTES:
        return raw
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{path}: not a base64 gossip key") from None
    if len(key) not in (16, 24, 32):  # memberlist takes AES-128/192/256 keys
        raise KeyFileError(f"{path}: a gossip key is 16, 24 or 32 bytes, this one {len(key)}")
    return key


def write_gossip_key(path: Path, key: bytes) -> None:
    """Write `key` base64-encoded, 0600, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, base64.b64encode(key) + b"\n")


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write a key or credential file atomically (default owner-only)."""
    write_atomic(path, data, mode)


def node_fingerprint(config_dir: Path) -> str:
    """This node's identity (`id` gossip tag) from `<config-dir>/pki/node.crt`."""
    path = config_dir / NODE_CERT
    try:
        return cert_fingerprint(path.read_bytes())
    except KeyFileError as e:
        raise KeyFileError(f"{path}: {e}") from None


def cert_fingerprint(cert_pem: bytes) -> str:
    """sha256 hex (first 32 characters) of the certificate's SubjectPublicKeyInfo DER."""
    return hashlib.sha256(spki_der(pem_certificate_der(cert_pem))).hexdigest()[:FINGERPRINT_CHARS]


def pem_certificate_der(pem: bytes) -> bytes:
    match = _PEM_CERT.search(pem)
    if match is None:
        raise KeyFileError("no PEM certificate")
    try:
        return base64.b64decode(b"".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError("a PEM certificate that is not base64") from None


def spki_der(cert_der: bytes) -> bytes:
    """The subjectPublicKeyInfo element of an X.509 certificate (RFC 5280 4.1)."""
    try:
        tag, start, _ = _element(cert_der, 0)  # Certificate
        _expect(tag, _SEQUENCE)
        tag, pos, _ = _element(cert_der, start)  # tbsCertificate
        _expect(tag, _SEQUENCE)
        tag, _, end = _element(cert_der, pos)
        if tag == _VERSION_TAG:
            pos = end
        # serialNumber, signature, issuer, validity, subject: then subjectPublicKeyInfo
        for _ in range(5):
            pos = _element(cert_der, pos)[2]
        tag, _, end = _element(cert_der, pos)
        _expect(tag, _SEQUENCE)
        return cert_der[pos:end]
    except IndexError:
        raise KeyFileError("a truncated certificate") from None


def _element(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the element) of the DER element at `pos`."""
    tag, first = der[pos], der[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4:
            raise KeyFileError("a certificate with an unsupported DER length")
        length = int.from_bytes(der[pos:pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise IndexError("element past the end")
    return tag, pos, pos + length


def _expect(tag: int, want: int) -> None:
    if tag != want:
        raise KeyFileError(f"not an X.509 certificate (tag {tag:#x} where {want:#x} belongs)")
