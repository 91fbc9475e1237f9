"""Image references, the pull policy rule, registry credentials and allowed hosts (pure)."""

from __future__ import annotations

import base64

import pytest

from minikube13.runtime.images import (
    Image,
    ImageConfig,
    ImageError,
    InvalidReference,
    RegistryAuth,
    auth_from_pull_secrets,
    must_pull,
    parse_reference,
)
from minikube13.runtime.images.auth import parse_challenge
from minikube13.runtime.images.oci import kind_of, pick_platform
from minikube13.runtime.images.reference import image_id_of
from minikube13.runtime.images.registry import base_url, check_allowed

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("ref", "full"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.35", "docker.io/library/busybox:1.35"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
    ("user/app:v1.2", "docker.io/user/app:v1.2"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/a/b/c:x_y-z", "localhost:5000/a/b/c:x_y-z"),
    ("127.0.0.1:5000/library/busybox", "127.0.0.1:5000/library/busybox:latest"),
    ("quay.io/org/app-name__x.y", "quay.io/org/app-name__x.y:latest"),
    (f"busybox@{D}", f"docker.io/library/busybox@{D}"),
    (f"r.example.com:443/x:tag@{D}", f"r.example.com:443/x:tag@{D}"),
])
def test_references_normalise_like_docker(ref: str, full: str) -> None:
    """Short names expand to docker.io/library and :latest, as `docker pull` does."""
    assert str(parse_reference(ref)) == full


@pytest.mark.parametrize("ref", [
    "", " busybox", "BusyBox", "busybox:", "busybox:-bad", "a//b", "busybox@sha256:12",
    "busybox@md5:" + "0" * 32, "-app", "app-", "ex ample/app", "a:b:c", "x" * 300,
])
def test_invalid_references_are_refused(ref: str) -> None:
    """Names Docker would refuse are InvalidReference (Kubernetes InvalidImageName)."""
    with pytest.raises(InvalidReference):
        parse_reference(ref)
    assert issubclass(InvalidReference, ImageError)


def test_reference_parts() -> None:
    """A reference knows its registry endpoint, repository and short spelling."""
    hub = parse_reference("busybox")
    assert (hub.host, hub.path, hub.familiar) == ("registry-1.docker.io", "library/busybox",
                                                  "busybox:latest")
    local = parse_reference("127.0.0.1:5000/a/b:1")
    assert (local.host, local.name, local.tagged, local.familiar) == (
        "127.0.0.1:5000", "127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:1", "127.0.0.1:5000/a/b:1")
    assert image_id_of("ab" * 32) == image_id_of(f"sha256:{'ab' * 32}") == D
    assert image_id_of("busybox") == ""


def _image(pinned: bool) -> Image:
    return Image(names=[], digest=D, id=D, config=ImageConfig(), size=0, pinned=pinned)


@pytest.mark.parametrize(("policy", "image", "pull"), [
    ("Never", None, False), ("Never", _image(False), False),
    ("IfNotPresent", None, True), ("IfNotPresent", _image(False), False),
    ("Always", None, True), ("Always", _image(False), True), ("Always", _image(True), False),
])
def test_pull_policy(policy: str, image: Image | None, pull: bool) -> None:
    """Never never pulls; IfNotPresent pulls when absent; Always skips pinned imports."""
    assert must_pull(policy, image) is pull


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_auth_from_pull_secrets_matches_hosts() -> None:
    """dockerconfigjson and dockercfg payloads; docker.io aliases; globs come last."""
    configs = [
        {"auths": {"https://index.docker.io/v1/": {"auth": _b64("hub:pw")},
                   "*.example.com": {"username": "glob", "password": "g"}}},
        {"http://127.0.0.1:5000/v2/": {"auth": _b64("local:pw:with:colons")},
         "r.example.com": {"registrytoken": "tok"}},
    ]
    assert auth_from_pull_secrets("docker.io", configs) == RegistryAuth("hub", "pw")
    assert auth_from_pull_secrets("registry-1.docker.io", configs) == RegistryAuth("hub", "pw")
    assert auth_from_pull_secrets("127.0.0.1:5000", configs) == RegistryAuth(
        "local", "pw:with:colons")
    assert auth_from_pull_secrets("r.example.com", configs) == RegistryAuth(
        registry_token="tok")
    assert auth_from_pull_secrets("q.example.com", configs) == RegistryAuth("glob", "g")
    assert auth_from_pull_secrets("quay.io", configs) is None
    assert auth_from_pull_secrets("x", [{"auths": {"x": {"auth": "%%%"}}}]) is None
    assert "pw" not in repr(RegistryAuth("hub", "pw"))


def test_parse_challenge() -> None:
    """WWW-Authenticate parameters, quoted (with commas inside) or bare."""
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="reg",'
        'scope="repository:a/b:pull,push", error=insufficient_scope')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example/token", "service": "reg",
                      "scope": "repository:a/b:pull,push", "error": "insufficient_scope"}
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


def test_allowed_hosts_and_scheme() -> None:
    """Patterns match host:port or host; http only for loopback registries."""
    local = parse_reference("127.0.0.1:5000/a")
    check_allowed(local, ["127.0.0.1:*"])
    check_allowed(local, ["127.0.0.1"])
    check_allowed(parse_reference("busybox"), ["*"])
    check_allowed(parse_reference("busybox"), ["docker.io"])
    with pytest.raises(ImageError, match="pulling from quay.io not allowed"):
        check_allowed(parse_reference("quay.io/a"), ["127.0.0.1:*", "localhost:*"])
    assert base_url(local) == "http://127.0.0.1:5000/v2/a"
    assert base_url(parse_reference("localhost/a")) == "http://localhost/v2/a"
    assert base_url(parse_reference("busybox")) == \
        "https://registry-1.docker.io/v2/library/busybox"


def test_manifest_kinds_and_platforms() -> None:
    """Indexes resolve to linux/<arch>; unknown document types are refused."""
    index = {"manifests": [
        {"digest": "a", "platform": {"os": "windows", "architecture": "amd64"}},
        {"digest": "b", "platform": {"os": "linux", "architecture": "arm64"}},
        {"digest": "c", "platform": {"os": "linux", "architecture": "amd64"}}]}
    assert kind_of({**index, "schemaVersion": 2}) == "index"
    assert kind_of({"schemaVersion": 2, "layers": []}, "application/json") == "manifest"
    assert kind_of({"mediaType": "application/vnd.oci.image.index.v1+json"}) == "index"
    assert pick_platform(index, "amd64")["digest"] == "c"
    assert pick_platform(index, "arm64")["digest"] == "b"
    with pytest.raises(ImageError, match="no linux/s390x"):
        pick_platform(index, "s390x")
    with pytest.raises(ImageError, match="unsupported manifest type"):
        kind_of({}, "application/vnd.docker.distribution.manifest.v1+prettyjws")
