"""What the image store hands out: images, their run configuration, registry credentials,
and the image pull policy rule (pure)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


class ImageError(Exception):
    """Root of the image package's errors: bad references, bad content, pulls, removal."""


@dataclass(frozen=True)
class ImageConfig:
    """The run part of an image config (OCI `config`): what a container starts with."""

    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""

    @classmethod
    def from_oci(cls, config: dict[str, Any]) -> ImageConfig:
        """Read the `config` member of an OCI / Docker image config document."""
        run = config.get("config") or config.get("container_config") or {}
        return cls(
            entrypoint=list(run.get("Entrypoint") or []),
            cmd=list(run.get("Cmd") or []),
            env=list(run.get("Env") or []),
            working_dir=run.get("WorkingDir") or "",
            user=run.get("User") or "",
        )

    def to_json(self) -> dict[str, Any]:
        return {"entrypoint": self.entrypoint, "cmd": self.cmd, "env": self.env,
                "working_dir": self.working_dir, "user": self.user}


@dataclass(frozen=True)
class Image:
    """One image in the store. `digest` names the manifest, `id` the config blob;
    `layers` are the diff ids (uncompressed layer digests) bottom to top."""

    names: list[str]
    digest: str
    id: str
    config: ImageConfig
    size: int
    pinned: bool
    layers: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"names": self.names, "digest": self.digest, "id": self.id,
                "config": self.config.to_json(), "size": self.size, "pinned": self.pinned,
                "layers": self.layers}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Image:
        return cls(names=list(raw["names"]), digest=raw["digest"], id=raw["id"],
                   config=ImageConfig(**raw.get("config", {})), size=int(raw.get("size", 0)),
                   pinned=bool(raw.get("pinned", False)), layers=list(raw.get("layers", [])))


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials for one registry: user + password (Basic, or for a Bearer token
    request), or a registry token sent as is."""

    username: str = ""
    password: str = ""
    registry_token: str = ""

    def __repr__(self) -> str:  # never print secrets into logs
        return f"RegistryAuth(username={self.username!r})"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """The digest if it is a well-formed sha256 digest, else ImageError."""
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise ImageError(f"unsupported or malformed digest {digest!r}")
    return digest


def must_pull(policy: str, image: Image | None) -> bool:
    """The pull rule stage0 applies. Never: no pull; IfNotPresent: pull when absent;
    Always: pull unless the local image is pinned (imported offline, never pulled again)."""
    if policy == "Never":
        return False
    if policy == "Always":
        return image is None or not image.pinned
    return image is None


def parse_document(data: bytes, what: str) -> dict[str, Any]:
    """A JSON object (manifest, config, index), else ImageError naming `what`."""
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise ImageError(f"{what} is not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ImageError(f"{what} is not a JSON object")
    return doc
