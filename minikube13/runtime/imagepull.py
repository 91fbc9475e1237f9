"""Images for a pod's containers: the pull policy, pulls with kubelet-style events, and a
per-image back-off after a failed pull (ImagePullBackOff)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from minikube13.runtime.errors import (
    ERR_IMAGE_NEVER_PULL,
    ERR_IMAGE_PULL,
    IMAGE_PULL_BACKOFF,
    INVALID_IMAGE_NAME,
    PodRuntimeError,
)
from minikube13.runtime.images import (
    Image,
    ImageError,
    ImageStore,
    InvalidReference,
    RegistryAuth,
    auth_from_pull_secrets,
    must_pull,
    parse_reference,
)
from minikube13.runtime.podenv import ImageDefaults
from minikube13.runtime.stage0 import ContainerImage, all_containers

log = logging.getLogger(__name__)
Events = Callable[[str, str, str], None]
BACKOFF_INITIAL_S = 10.0
BACKOFF_MAX_S = 300.0


class ImageSource(Protocol):
    """The part of ImageStore stage0 uses (tests may pass a stand-in)."""

    def resolve(self, ref: str) -> Image | None: ...

    def layer_dirs(self, image: Image) -> list[Path]: ...

    async def pull(self, ref: str, auth: RegistryAuth | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   allowed: Sequence[str] = ("*",)) -> Image: ...


def default_policy(ref: str) -> str:
    """The API server's default: Always for :latest (or no tag), else IfNotPresent."""
    last = ref.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    return "Always" if ":" not in last or last.endswith(":latest") else "IfNotPresent"


class ImagePuller:
    def __init__(self, data_dir: Path, source: ImageSource | None,
                 allowed: Sequence[str]) -> None:
        self.source: ImageSource = source or ImageStore(data_dir / "images")
        self.allowed = tuple(allowed)
        self._failures: dict[str, tuple[float, float]] = {}   # ref -> (retry at, delay)

    async def images_for(self, pod: Mapping[str, Any], inputs: Any,
                         events: Events | None) -> dict[str, ContainerImage]:
        """A ContainerImage per container name (init and app), pulling where the policy says."""
        emit = events or (lambda _t, _r, _m: None)
        out: dict[str, ContainerImage] = {}
        for container, _init in all_containers(dict(pod)):
            ref = str(container.get("image") or "")
            policy = container.get("imagePullPolicy") or default_policy(ref)
            image = await self.image(ref, policy, list(inputs.pull_auth), emit)
            cfg = image.config
            out[container["name"]] = ContainerImage(
                ref=ref, image_id=image.id, digest=image.digest,
                layers=tuple(self.source.layer_dirs(image)),
                defaults=ImageDefaults(tuple(cfg.entrypoint), tuple(cfg.cmd), tuple(cfg.env),
                                       cfg.working_dir, cfg.user))
        return out

    async def image(self, ref: str, policy: str, pull_auth: list[dict[str, Any]],
                    emit: Events) -> Image:
        try:
            reference = parse_reference(ref)
            local = self.source.resolve(ref)
        except (InvalidReference, ValueError) as e:
            emit("Warning", "InspectFailed", f'Failed to apply default image tag "{ref}": {e}')
            raise PodRuntimeError(INVALID_IMAGE_NAME, f'invalid image name "{ref}": {e}') from e
        if not must_pull(policy, local):
            if local is None:
                message = f'Container image "{ref}" is not present with pull policy of Never'
                emit("Warning", "ErrImageNeverPull", message)
                raise PodRuntimeError(ERR_IMAGE_NEVER_PULL, message)
            emit("Normal", "Pulled", f'Container image "{ref}" already present on machine')
            return local
        retry_at, _ = self._failures.get(ref, (0.0, 0.0))
        if time.monotonic() < retry_at:
            message = f'Back-off pulling image "{ref}"'
            emit("Normal", "BackOff", message)
            raise PodRuntimeError(IMAGE_PULL_BACKOFF, message)
        emit("Normal", "Pulling", f'pulling image "{ref}"')
        auth = auth_from_pull_secrets(reference.domain, pull_auth) if pull_auth else None
        try:
            image = await self.source.pull(ref, auth=auth, allowed=self.allowed)
        except (ImageError, OSError) as e:
            self._failed(ref)
            message = f'Failed to pull image "{ref}": {e}'
            emit("Warning", "Failed", message)
            raise PodRuntimeError(ERR_IMAGE_PULL, message) from e
        self._failures.pop(ref, None)
        emit("Normal", "Pulled", f'Successfully pulled image "{ref}"')
        return image

    def _failed(self, ref: str) -> None:
        _, delay = self._failures.get(ref, (0.0, 0.0))
        delay = min(BACKOFF_MAX_S, delay * 2 if delay else BACKOFF_INITIAL_S)
        self._failures[ref] = (time.monotonic() + delay, delay)
