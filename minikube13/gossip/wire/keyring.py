"""memberlist's AES-GCM encryption with a keyring (security.go, keyring.go).

An encrypted payload is: version byte, 12-byte nonce, ciphertext + 16-byte GCM tag.
Version 0 pads the plaintext PKCS#7 to the AES block size first (memberlist protocol 1);
version 1 does not (what every current peer speaks). The primary key encrypts; every key
on the ring is tried to decrypt. The additional authenticated data is the packet label
(empty without one) for packets, and the 5-byte stream header (+ label) for streams.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from minikube13.gossip.wire import WireError

VERSION_SIZE = 1
NONCE_SIZE = 12
TAG_SIZE = 16
BLOCK_SIZE = 16
MAX_ENCRYPTION_VERSION = 1
KEY_SIZES = (16, 24, 32)


def validate_key(key: bytes) -> None:
    if len(key) not in KEY_SIZES:
        raise WireError("key size must be 16, 24 or 32 bytes")


def encrypted_length(version: int, plain_len: int) -> int:
    if version >= 1:
        return VERSION_SIZE + NONCE_SIZE + plain_len + TAG_SIZE
    padding = BLOCK_SIZE - plain_len % BLOCK_SIZE
    return VERSION_SIZE + NONCE_SIZE + plain_len + padding + TAG_SIZE


def encrypt_overhead(version: int) -> int:
    """Worst-case bytes encryption adds (used to size packets under the MTU)."""
    return 45 if version == 0 else 29


def _pkcs7_pad(data: bytes) -> bytes:
    more = BLOCK_SIZE - len(data) % BLOCK_SIZE
    return data + bytes([more]) * more


def _pkcs7_unpad(data: bytes) -> bytes:
    if not data:
        raise WireError("cannot unpad an empty buffer")
    return data[:len(data) - data[-1]]


class Keyring:
    """The keys this node accepts; the first (primary) one encrypts."""

    def __init__(self, primary: bytes, others: Iterable[bytes] = (),
                 nonce_source: Callable[[int], bytes] = os.urandom) -> None:
        keys = [bytes(primary)] + [bytes(k) for k in others if bytes(k) != bytes(primary)]
        for key in keys:
            validate_key(key)
        self._keys = keys
        self._nonce_source = nonce_source

    @property
    def primary(self) -> bytes:
        return self._keys[0]

    @property
    def keys(self) -> tuple[bytes, ...]:
        return tuple(self._keys)

    def encrypt(self, plain: bytes, aad: bytes = b"", version: int = 1) -> bytes:
        if version not in (0, 1):
            raise WireError(f"unsupported encryption version {version}")
        nonce = self._nonce_source(NONCE_SIZE)
        data = _pkcs7_pad(plain) if version == 0 else plain
        sealed = AESGCM(self.primary).encrypt(nonce, data, aad or None)
        return bytes([version]) + nonce + sealed

    def decrypt(self, payload: bytes, aad: bytes = b"") -> bytes:
        if not payload:
            raise WireError("cannot decrypt an empty payload")
        version = payload[0]
        if version > MAX_ENCRYPTION_VERSION:
            raise WireError(f"unsupported encryption version {version}")
        if len(payload) < encrypted_length(version, 0):
            raise WireError(f"payload is too small to decrypt: {len(payload)}")
        nonce = payload[VERSION_SIZE:VERSION_SIZE + NONCE_SIZE]
        sealed = payload[VERSION_SIZE + NONCE_SIZE:]
        for key in self._keys:
            try:
                plain = AESGCM(key).decrypt(nonce, sealed, aad or None)
            except InvalidTag:
                continue
            return _pkcs7_unpad(plain) if version == 0 else plain
        raise WireError("no installed keys could decrypt the message")
