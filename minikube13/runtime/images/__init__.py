"""Container images: a content-addressed store under the data dir, import of OCI layouts,
OCI archives and docker-save archives, and pulls from Docker Registry v2 registries."""

from minikube13.runtime.images.auth import auth_from_pull_secrets
from minikube13.runtime.images.model import (
    Image,
    ImageConfig,
    ImageError,
    RegistryAuth,
    must_pull,
)
from minikube13.runtime.images.reference import InvalidReference, Reference, parse_reference
from minikube13.runtime.images.store import ImageStore

__all__ = [
    "Image", "ImageConfig", "ImageError", "ImageStore", "InvalidReference", "Reference",
    "RegistryAuth", "auth_from_pull_secrets", "must_pull", "parse_reference",
]
