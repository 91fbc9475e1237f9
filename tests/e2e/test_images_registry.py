"""Pulls from a real Docker registry (Debian's docker-registry) on loopback, images pushed
with skopeo: anonymous, Basic (htpasswd) and Bearer-token auth, manifest lists, digests."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from minikube13.runtime.images import (
    ImageError,
    ImageStore,
    RegistryAuth,
    auth_from_pull_secrets,
)
from minikube13.runtime.images.oci import (
    OCI_INDEX,
    OCI_MANIFEST,
    REF_NAME,
    canonical_json,
    host_arch,
    write_blob,
)

from .images_support import (
    PASSWORD,
    USER,
    Registry,
    TokenServer,
    build_busybox,
    htpasswd_auth,
    run_registry,
    skopeo_push,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (layer owners, whiteouts)")


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("layout") / "busybox.oci"
    build_busybox(out)
    _add_multi_arch_index(out)
    return out


def _add_multi_arch_index(layout: Path) -> None:
    """Tag `multi`: an OCI index with this host's busybox and a foreign-arch twin."""
    index = json.loads((layout / "index.json").read_text())
    desc = index["manifests"][0]
    manifest = json.loads((layout / "blobs/sha256" / desc["digest"][7:]).read_text())
    config = json.loads((layout / "blobs/sha256" / manifest["config"]["digest"][7:]).read_text())
    foreign = "s390x" if host_arch() != "s390x" else "amd64"
    other_cfg = write_blob(layout, canonical_json({**config, "architecture": foreign}))
    other = write_blob(layout, canonical_json({**manifest, "config": {**manifest["config"],
                                                                       **other_cfg}}))
    entries = [{"mediaType": OCI_MANIFEST, **other,
                "platform": {"os": "linux", "architecture": foreign}},
               {"mediaType": OCI_MANIFEST, "digest": desc["digest"], "size": desc["size"],
                "platform": {"os": "linux", "architecture": host_arch()}}]
    inner = write_blob(layout, canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                               "manifests": entries}))
    index["manifests"].append({"mediaType": OCI_INDEX, **inner,
                               "annotations": {REF_NAME: "multi"}})
    (layout / "index.json").write_bytes(canonical_json(index))


def _digest(layout: Path) -> str:
    return str(json.loads((layout / "index.json").read_text())["manifests"][0]["digest"])


@pytest.fixture(scope="module")
def registry(layout: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with run_registry(tmp_path_factory.mktemp("registry")) as reg:
        skopeo_push(f"oci:{layout}:latest", reg.host, "library/busybox:latest")
        skopeo_push(f"oci:{layout}:multi", reg.host, "multi/busybox:latest", "--all")
        yield reg


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


async def test_pull_unpacks_a_runnable_verified_image(registry: Registry, layout: Path,
                                                      store: ImageStore) -> None:
    """A pulled image has the pushed digest, is not pinned, and its busybox runs."""
    seen: list[tuple[int, int]] = []
    image = await store.pull(f"{registry.host}/library/busybox", progress=lambda d, t:
                             seen.append((d, t)), allowed=["127.0.0.1:*"])
    assert image.digest == _digest(layout) and not image.pinned
    assert image.names == [f"{registry.host}/library/busybox:latest"]
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] > 0
    assert store.resolve(f"{registry.host}/library/busybox:latest") == image
    [layer] = store.layer_dirs(image)
    out = subprocess.run([str(layer / "bin/busybox"), "echo", "hi"], capture_output=True,
                         text=True, check=True)
    assert out.stdout == "hi\n"
    again: list[tuple[int, int]] = []
    await store.pull(f"{registry.host}/library/busybox", progress=lambda d, t:
                     again.append((d, t)))
    assert again == [(0, 0)]  # the layer is there already: nothing downloaded


async def test_pull_by_digest(registry: Registry, layout: Path, store: ImageStore) -> None:
    """`name@sha256:..` pulls that exact manifest; an unknown digest is not found."""
    ref = f"{registry.host}/library/busybox@{_digest(layout)}"
    image = await store.pull(ref)
    assert image.digest == _digest(layout) and store.resolve(ref) == image
    with pytest.raises(ImageError, match="not found"):
        await store.pull(f"{registry.host}/library/busybox@sha256:{'0' * 64}")


async def test_manifest_list_resolves_to_this_arch(registry: Registry, layout: Path,
                                                   store: ImageStore) -> None:
    """A multi-arch tag gives the linux/<this arch> image."""
    image = await store.pull(f"{registry.host}/multi/busybox:latest")
    assert image.digest == _digest(layout)


async def test_registry_not_allowed(registry: Registry, store: ImageStore) -> None:
    """A registry outside the allowed patterns is refused before any request."""
    with pytest.raises(ImageError, match="not allowed"):
        await store.pull(f"{registry.host}/library/busybox", allowed=["localhost:*"])
    assert store.images() == []


async def test_corrupted_layer_is_refused(layout: Path, tmp_path: Path,
                                          store: ImageStore) -> None:
    """A registry serving a layer whose bytes do not match the digest: the pull fails and
    leaves no image, layer or temp file."""
    with run_registry(tmp_path / "bad") as reg:
        skopeo_push(f"oci:{layout}:latest", reg.host, "library/busybox:latest")
        manifest = json.loads((layout / "blobs/sha256" / _digest(layout)[7:]).read_text())
        blob = reg.blob_file(manifest["layers"][0]["digest"])
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0xFF
        blob.write_bytes(bytes(data))
        with pytest.raises(ImageError, match="digest mismatch"):
            await store.pull(f"{reg.host}/library/busybox")
    assert store.images() == []
    assert not list(store.root.glob("layers/sha256/*"))
    assert not list(store.root.glob("tmp/*"))


async def test_corrupted_manifest_is_refused(layout: Path, tmp_path: Path,
                                             store: ImageStore) -> None:
    """A manifest that does not hash to its digest is refused, by tag and by digest."""
    with run_registry(tmp_path / "bad") as reg:
        skopeo_push(f"oci:{layout}:latest", reg.host, "library/busybox:latest")
        blob = reg.blob_file(_digest(layout))
        blob.write_bytes(blob.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion": 2'))
        for ref in ("library/busybox", f"library/busybox@{_digest(layout)}"):
            with pytest.raises(ImageError, match="manifest digest mismatch"):
                await store.pull(f"{reg.host}/{ref}")
    assert store.images() == []


async def test_basic_auth(layout: Path, tmp_path: Path, store: ImageStore) -> None:
    """htpasswd registry: the right password pulls; none or a wrong one is refused."""
    with run_registry(tmp_path / "basic", htpasswd_auth(tmp_path)) as reg:
        skopeo_push(f"oci:{layout}:latest", reg.host, "library/busybox:latest",
                    f"--dest-creds={USER}:{PASSWORD}")
        ref = f"{reg.host}/library/busybox"
        with pytest.raises(ImageError, match="needs credentials"):
            await store.pull(ref)
        with pytest.raises(ImageError, match="unauthorized"):
            await store.pull(ref, auth=RegistryAuth(USER, "wrong"))
        image = await store.pull(ref, auth=RegistryAuth(USER, PASSWORD))
    assert image.digest == _digest(layout)


async def test_token_auth_from_pull_secret(layout: Path, tmp_path: Path,
                                           store: ImageStore) -> None:
    """Bearer-token registry: credentials from an imagePullSecret payload get a token
    for the repository's pull scope; without them the token server refuses."""
    with TokenServer(tmp_path) as tokens, \
            run_registry(tmp_path / "token", tokens.auth_config()) as reg:
        skopeo_push(f"oci:{layout}:latest", reg.host, "library/busybox:latest",
                    f"--dest-creds={USER}:{PASSWORD}")
        ref = f"{reg.host}/library/busybox"
        with pytest.raises(ImageError, match="token server refused"):
            await store.pull(ref)
        secret = {"auths": {f"http://{reg.host}/v2/": {
            "auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}}}
        auth = auth_from_pull_secrets(reg.host, [secret])
        image = await store.pull(ref, auth=auth)
    assert image.digest == _digest(layout)
    assert tokens.requests[-1]["scope"] == "repository:library/busybox:pull"
    assert tokens.requests[-1]["service"] == "m13-test-registry"


def test_cli_pull_ls_rm(registry: Registry, tmp_path: Path) -> None:
    """`minikube13 images pull|ls|rm` on a data dir."""
    def cli(*args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "minikube13", "images", *args,
                              "--data-dir", str(tmp_path)], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout
    ref = f"{registry.host}/library/busybox"
    assert "pulled" in cli("pull", ref, "--allow", "localhost:*,127.0.0.1:*")
    assert f"{ref}:latest" in cli("ls")
    cli("rm", ref)
    assert cli("ls", "-q") == ""
