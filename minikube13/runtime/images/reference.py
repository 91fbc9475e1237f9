"""Image references as Docker spells them (pure): `busybox` is
`docker.io/library/busybox:latest`; `host:port/path:tag`, `name@sha256:<hex>`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from minikube13.runtime.images.model import DIGEST_RE, ImageError

DEFAULT_DOMAIN = "docker.io"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
DEFAULT_TAG = "latest"
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_DOMAIN = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_HEX_ID = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")


class InvalidReference(ImageError):
    """The reference cannot name an image (Kubernetes reason InvalidImageName)."""


@dataclass(frozen=True)
class Reference:
    """A normalised reference: domain, repository path, and a tag and/or a digest."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """`domain/path`, the repository the image lives in."""
        return f"{self.domain}/{self.path}"

    @property
    def host(self) -> str:
        """The host (and port) to speak the Registry API to."""
        return DOCKER_HUB_ENDPOINT if self.domain == DEFAULT_DOMAIN else self.domain

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @property
    def tagged(self) -> str:
        """`name:tag` (empty when the reference carries only a digest)."""
        return f"{self.name}:{self.tag}" if self.tag else ""

    @property
    def familiar(self) -> str:
        """The short form Docker prints: `busybox:latest`, `user/app:1`."""
        short = self.tagged or str(self)
        for prefix in (f"{DEFAULT_DOMAIN}/library/", f"{DEFAULT_DOMAIN}/"):
            if short.startswith(prefix):
                return short[len(prefix):]
        return short


def parse_reference(ref: str) -> Reference:
    """Parse and normalise `ref`; a missing tag and digest means `latest`."""
    if not ref or ref != ref.strip():
        raise InvalidReference(f"invalid image reference {ref!r}")
    rest, _, digest = ref.partition("@")
    if digest and not DIGEST_RE.match(digest):
        raise InvalidReference(f"invalid digest in image reference {ref!r}")
    tag = ""
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.match(tag):
            raise InvalidReference(f"invalid tag in image reference {ref!r}")
    domain, path = _split_domain(rest, ref)
    if not digest and not tag:
        tag = DEFAULT_TAG
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def _split_domain(name: str, ref: str) -> tuple[str, str]:
    first, sep, remainder = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, remainder
        if not _DOMAIN.match(domain):
            raise InvalidReference(f"invalid registry host in image reference {ref!r}")
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    if len(domain) + len(path) + 1 > 255 or not all(_COMPONENT.match(c) for c in path.split("/")):
        raise InvalidReference(f"invalid image reference {ref!r}")
    return domain, path


def image_id_of(ref: str) -> str:
    """`sha256:<hex>` when `ref` is a bare image id (with or without `sha256:`), else ""."""
    m = _HEX_ID.match(ref)
    return f"sha256:{m.group(1)}" if m else ""
