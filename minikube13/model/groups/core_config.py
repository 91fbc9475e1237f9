"""core/v1 Secret, ConfigMap and ServiceAccount.

Secrets carry base64 in `data`; `stringData` is merged into `data` on every write (the
apiserver never stores it). A `kubernetes.io/tls` secret must hold a PEM certificate and the
private key that matches it.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import objects
from minikube13.model.errors import BadRequest, FieldError
from minikube13.model.groups.core_container import keyed
from minikube13.model.groups.meta import (
    AGE_COLUMN,
    LOCAL_OBJECT_REFERENCE,
    NAME_COLUMN,
    OBJECT_REFERENCE,
    STRING_MAP,
    name_of,
    object_age,
    top_level,
)
from minikube13.model.objects import Column, KindSpec
from minikube13.model.schema import Arr, boolean, string

Json = dict[str, Any]

MAX_SECRET_BYTES = 1024 * 1024
TLS = "kubernetes.io/tls"
CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"

SECRET = top_level("io.k8s.api.core.v1.Secret", "Secret holds secret data of a certain type.", {
    "data": STRING_MAP.with_description("Data contains the secret data, base64 encoded."),
    "stringData": STRING_MAP.with_description(
        "stringData allows specifying non-binary secret data in string form. It is merged "
        "into the data field on write."),
    "type": string("Used to facilitate programmatic handling of secret data."),
    "immutable": boolean(),
})
CONFIG_MAP = top_level("io.k8s.api.core.v1.ConfigMap", "ConfigMap holds configuration data "
                       "for pods to consume.", {
                           "data": STRING_MAP, "binaryData": STRING_MAP,
                           "immutable": boolean(),
                       })
SERVICE_ACCOUNT = top_level(
    "io.k8s.api.core.v1.ServiceAccount", "ServiceAccount binds together: a name, understood "
    "by users, and perhaps by peripheral systems, for an identity; a principal that can be "
    "authenticated and authorized; a set of secrets.", {
        "secrets": keyed(OBJECT_REFERENCE, "name"),
        "imagePullSecrets": Arr(items=LOCAL_OBJECT_REFERENCE),
        "automountServiceAccountToken": boolean(),
    })


def config_key(key: str) -> list[str]:
    out = []
    if len(key) > 253:
        out.append("must be no more than 253 characters")
    if not re.fullmatch(CONFIG_KEY_FMT, key):
        out.append("a valid config key must consist of alphanumeric characters, '-', '_' or "
                   "'.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                   f"validation is '{CONFIG_KEY_FMT}')")
    if key in (".", ".."):
        out.append(f"must not be '{key}'")
    elif key.startswith(".."):
        out.append("must not start with '..'")
    return out


def _b64_error(text: str) -> int | None:
    """The input byte Go's base64 decoder would name, or None when `text` decodes."""
    compact = text.replace("\r", "").replace("\n", "")
    try:
        base64.b64decode(compact, validate=True)
        return None
    except (binascii.Error, ValueError):
        pass
    match = re.search(r"[^A-Za-z0-9+/=]", compact)
    if match:
        return match.start()
    return len(compact) - len(compact) % 4


def decode_secret(secret: Json) -> Json:
    """Merge stringData into data; refuse data that is not base64 (400, like the decoder)."""
    data = secret.get("data") or {}
    for value in data.values():
        where = _b64_error(value) if isinstance(value, str) else None
        if where is not None:
            raise BadRequest(f'Secret in version "v1" cannot be handled as a Secret: illegal '
                             f"base64 data at input byte {where}")
    strings = secret.pop("stringData", None)
    if isinstance(strings, dict) and strings:
        secret["data"] = dict(data)
        for key, value in strings.items():
            secret["data"][key] = base64.b64encode(str(value).encode()).decode()
    return secret


def default_secret(secret: Json) -> Json:
    secret.setdefault("type", "Opaque")
    return secret


def _decoded(data: Json, key: str) -> bytes:
    try:
        return base64.b64decode(data.get(key) or "")
    except (binascii.Error, ValueError):
        return b""


def validate_tls_pair(data: Json) -> list[FieldError]:
    """tls.crt and tls.key present, PEM-decodable, and the key belongs to the certificate."""
    out: list[FieldError] = []
    for key in ("tls.crt", "tls.key"):
        if not data.get(key):
            out.append(fe.required(f"data[{key}]"))
    if out:
        return out
    # Imported here: only TLS secrets need it, and it costs the daemon ~10 MB resident.
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    try:
        cert = x509.load_pem_x509_certificate(_decoded(data, "tls.crt"))
    except ValueError:
        return [fe.FieldError(fe.INVALID, "data[tls.crt]",
                              "must contain a PEM-encoded X.509 certificate")]
    try:
        private = serialization.load_pem_private_key(_decoded(data, "tls.key"), password=None)
    except (ValueError, TypeError):
        return [fe.FieldError(fe.INVALID, "data[tls.key]",
                              "must contain an unencrypted PEM-encoded private key")]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if private.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        return [fe.FieldError(fe.INVALID, "data[tls.key]",
                              "private key does not match the certificate in tls.crt")]
    return []


_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": ".dockercfg",
    "kubernetes.io/dockerconfigjson": ".dockerconfigjson",
    "kubernetes.io/ssh-auth": "ssh-privatekey",
}


def _validate_secret_type(secret: Json, data: Json) -> list[FieldError]:
    kind = secret.get("type") or "Opaque"
    if kind == TLS:
        return validate_tls_pair(data)
    if kind in _REQUIRED_KEYS and not data.get(_REQUIRED_KEYS[kind]):
        return [fe.required(f"data[{_REQUIRED_KEYS[kind]}]")]
    if kind == "kubernetes.io/basic-auth" and not (data.get("username") or
                                                    data.get("password")):
        return [fe.required("data[username]")]
    if kind == "kubernetes.io/service-account-token":
        annotations = (secret.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            return [fe.required("metadata.annotations[kubernetes.io/service-account.name]")]
    return []


def _validate_keys(data: Json, path: str) -> tuple[int, list[FieldError]]:
    out: list[FieldError] = []
    size = 0
    for key, value in data.items():
        out += [fe.invalid(f"{path}[{key}]", key, msg) for msg in config_key(key)]
        size += len(value or "")
    return size, out


def _validate_immutable(new: Json, old: Json | None, keys: tuple[str, ...]) -> list[FieldError]:
    if old is None or not old.get("immutable"):
        return []
    out = [fe.forbidden(key, "field is immutable when `immutable` is set")
           for key in keys if new.get(key) != old.get(key)]
    if not new.get("immutable"):
        out.append(fe.forbidden("immutable", "field is immutable when `immutable` is set"))
    return out


def validate_secret(secret: Json, old: Json | None) -> list[FieldError]:
    out: list[FieldError] = []
    data = secret.get("data") or {}
    size, errs = _validate_keys(data, "data")
    out += errs
    if size * 3 // 4 > MAX_SECRET_BYTES:
        out.append(fe.too_long("data", MAX_SECRET_BYTES))
    out += _validate_secret_type(secret, data)
    if old is not None:
        if secret.get("type") != old.get("type"):
            out.append(fe.invalid("type", secret.get("type"), "field is immutable"))
        out += _validate_immutable(secret, old, ("data",))
    return out


def validate_config_map(cm: Json, old: Json | None) -> list[FieldError]:
    out: list[FieldError] = []
    data, binary = cm.get("data") or {}, cm.get("binaryData") or {}
    size, errs = _validate_keys(data, "data")
    out += errs
    binary_size, errs = _validate_keys(binary, "binaryData")
    out += errs
    for key in data:
        if key in binary:
            out.append(fe.invalid(f"data[{key}]", key,
                                  "duplicate of key present in binaryData"))
    if size + binary_size * 3 // 4 > MAX_SECRET_BYTES:
        out.append(fe.too_long("", MAX_SECRET_BYTES))
    if old is not None:
        out += _validate_immutable(cm, old, ("data", "binaryData"))
    return out


def _data_cells(obj: Json, now: datetime, *middle: Any) -> list[Any]:
    count = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [name_of(obj), *middle, count, object_age(obj, now)]


DATA_COLUMN = Column("Data", "integer", description="The number of entries in data.")

objects.register(KindSpec(
    storage="secrets", schema=SECRET, default=default_secret, validate=validate_secret,
    columns=(NAME_COLUMN, Column("Type", description="The type of the secret."), DATA_COLUMN,
             AGE_COLUMN),
    cells=lambda s, now: _data_cells(s, now, s.get("type", "")),
    field_labels=lambda s: {"type": s.get("type", "")},
    extra={"decode": decode_secret},
))
objects.register(KindSpec(
    storage="configmaps", schema=CONFIG_MAP, validate=validate_config_map,
    columns=(NAME_COLUMN, DATA_COLUMN, AGE_COLUMN), cells=_data_cells,
))
objects.register(KindSpec(
    storage="serviceaccounts", schema=SERVICE_ACCOUNT,
    columns=(NAME_COLUMN, Column("Secrets", "integer", description="The number of secrets."),
             AGE_COLUMN),
    cells=lambda sa, now: [name_of(sa), len(sa.get("secrets") or []), object_age(sa, now)],
))
