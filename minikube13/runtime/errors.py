"""The pod runtime's exception root and the Kubernetes-facing error it carries."""

from __future__ import annotations

# Kubernetes waiting reasons a PodRuntimeError may carry (the kubelet's names).
ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACKOFF = "ImagePullBackOff"
ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"
INVALID_IMAGE_NAME = "InvalidImageName"
CREATE_CONFIG_ERROR = "CreateContainerConfigError"
CREATE_ERROR = "CreateContainerError"


class PodRuntimeError(Exception):
    """A pod could not be prepared or started; `reason` is the container waiting reason."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def config_error(message: str) -> PodRuntimeError:
    """A missing secret, config map or key (the pod may start once it appears)."""
    return PodRuntimeError(CREATE_CONFIG_ERROR, message)


def create_error(message: str) -> PodRuntimeError:
    """The host could not set the pod up (mount, netns, cgroup, stage1)."""
    return PodRuntimeError(CREATE_ERROR, message)
