"""Registry credentials (pure): pick them from imagePullSecrets payloads, parse a
`WWW-Authenticate` challenge."""

from __future__ import annotations

import base64
import binascii
import re
from fnmatch import fnmatch
from typing import Any

from minikube13.runtime.images.model import RegistryAuth

_HUB_ALIASES = {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com",
                "docker.io"}
_PARAM = re.compile(r'\s*([a-zA-Z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def normalize_host(server: str) -> str:
    """`https://index.docker.io/v1/` → `docker.io`; `http://h:5000/v2/` → `h:5000`."""
    host = server.strip()
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.split("/", 1)[0].lower()
    return "docker.io" if host in _HUB_ALIASES else host


def auth_from_pull_secrets(registry_host: str, dockerconfigs: list[dict[str, Any]]
                           ) -> RegistryAuth | None:
    """Credentials for `registry_host` from decoded `.dockerconfigjson` ({"auths": {...}})
    or `.dockercfg` ({server: {...}}) payloads: an exact host match first, then a glob
    (`*.example.com`) like the kubelet's keyring; None when none matches."""
    want = normalize_host(registry_host)
    entries: list[tuple[str, dict[str, Any]]] = []
    for doc in dockerconfigs:
        auths = doc.get("auths")
        if not isinstance(auths, dict):
            auths = doc
        entries.extend((normalize_host(k), v) for k, v in auths.items() if isinstance(v, dict))
    for exact in (True, False):
        for host, entry in entries:
            if (host == want) if exact else ("*" in host and fnmatch(want, host)):
                found = _entry_auth(entry)
                if found is not None:
                    return found
    return None


def _entry_auth(entry: dict[str, Any]) -> RegistryAuth | None:
    user, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    if entry.get("auth") and not user:
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
    token = str(entry.get("registrytoken") or "")
    if not (user or token):
        return None
    return RegistryAuth(username=user, password=password, registry_token=token)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="https://a/token",service="reg",scope="x"` → ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for m in _PARAM.finditer(rest):
        quoted = m.group(2)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else m.group(3)
        params[m.group(1).lower()] = value
    return scheme.lower(), params


def basic_header(auth: RegistryAuth) -> str:
    raw = f"{auth.username}:{auth.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()
