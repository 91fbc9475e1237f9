"""Pull from a Docker Registry HTTP API v2 registry (aiohttp): Bearer-token and Basic auth,
manifest lists / OCI indexes resolved to linux/<this arch>, every digest verified, registry
hosts limited to `allowed` patterns; plain http only for loopback registries."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from fnmatch import fnmatch
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Protocol

import aiohttp

from minikube13.runtime.images import oci
from minikube13.runtime.images.auth import basic_header, parse_challenge
from minikube13.runtime.images.model import (
    Image,
    ImageError,
    RegistryAuth,
    check_digest,
    parse_document,
    sha256_digest,
)
from minikube13.runtime.images.reference import Reference, parse_reference


class LayerSink(Protocol):
    """What a pull writes into: the ImageStore (the port keeps this module below it)."""

    def has_layer(self, diff_id: str) -> bool: ...

    def tmp_dir(self) -> Path: ...

    def unpack(self, stream: BinaryIO, diff_id: str, blob_digest: str = "") -> Path: ...

    def register(self, manifest: bytes, config: bytes, names: Sequence[str], *,
                 pinned: bool) -> Image: ...

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
MANIFEST_ACCEPT = ", ".join((oci.OCI_INDEX, oci.OCI_MANIFEST, oci.DOCKER_LIST,
                             oci.DOCKER_MANIFEST))
MAX_DOCUMENT = 4 << 20
CHUNK = 1 << 16
LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")


def check_allowed(ref: Reference, allowed: Sequence[str]) -> None:
    """ImageError unless the registry (`host:port` or `host`) matches an allowed pattern."""
    host = ref.domain
    bare = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if not any(fnmatch(host, p) or fnmatch(bare, p) for p in allowed):
        raise ImageError(f"pulling from {host} not allowed")


def base_url(ref: Reference) -> str:
    host = ref.host
    bare = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    loopback = bare in LOOPBACK or bare.startswith("127.")
    return f"{'http' if loopback else 'https'}://{host}/v2/{ref.path}"


async def pull_image(store: LayerSink, ref: str, *, auth: RegistryAuth | None = None,
                     progress: Progress | None = None,
                     allowed: Sequence[str] = ("*",)) -> Image:
    """Fetch the manifest, config and missing layers of `ref`, unpack and register it."""
    parsed = parse_reference(ref)
    check_allowed(parsed, allowed)
    log.info("pull started ref=%s", parsed)
    async with RegistrySession(parsed, auth) as registry:
        manifest, media_type = await registry.manifest(parsed.digest or parsed.tag,
                                                       parsed.digest)
        doc = parse_document(manifest, "manifest")
        if oci.kind_of(doc, media_type) == "index":
            chosen = oci.pick_platform(doc)
            manifest, media_type = await registry.manifest(chosen["digest"],
                                                           check_digest(chosen["digest"]))
            doc = parse_document(manifest, "manifest")
        if oci.kind_of(doc, media_type) != "manifest":
            raise ImageError(f"{parsed}: nested manifest lists are not supported")
        config = await registry.blob_bytes(check_digest(doc["config"]["digest"]))
        diff_ids = list((parse_document(config, "image config").get("rootfs") or {}).get("diff_ids") or [])
        if len(diff_ids) != len(doc.get("layers") or []):
            raise ImageError(f"{parsed}: layers and diff ids differ in number")
        needed = [(d, i) for d, i in zip(doc["layers"], diff_ids, strict=True)
                  if not store.has_layer(check_digest(i))]
        await _fetch_layers(store, registry, needed, progress)
    image = store.register(manifest, config, [parsed.tagged] if parsed.tagged else [],
                           pinned=False)
    log.info("pull done ref=%s digest=%s layers=%d new=%d", parsed, image.digest,
             len(diff_ids), len(needed))
    return image


async def _fetch_layers(store: LayerSink, registry: RegistrySession,
                        needed: list[tuple[dict[str, Any], str]],
                        progress: Progress | None) -> None:
    total = sum(int(d.get("size", 0)) for d, _ in needed)
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)
    if progress is not None:
        progress(0, total)
    for desc, diff_id in needed:
        fd, name = tempfile.mkstemp(prefix="blob-", dir=store.tmp_dir())
        os.close(fd)
        try:
            digest = check_digest(desc["digest"])
            await registry.download(digest, Path(name), step)
            await asyncio.to_thread(_unpack_file, store, Path(name), diff_id, digest)
        finally:
            os.unlink(name)


def _unpack_file(store: LayerSink, path: Path, diff_id: str, blob_digest: str) -> None:
    with path.open("rb") as f:
        store.unpack(f, diff_id, blob_digest)


class RegistrySession:
    """One repository on one registry, with the authorization its challenges asked for."""

    def __init__(self, ref: Reference, auth: RegistryAuth | None) -> None:
        self.ref = ref
        self.auth = auth
        self.base = base_url(ref)
        self.authorization = f"Bearer {auth.registry_token}" if auth and auth.registry_token \
            else ""
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RegistrySession:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
        self.session = aiohttp.ClientSession(timeout=timeout)
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self.session is not None:
            await self.session.close()

    async def manifest(self, reference: str, digest: str = "") -> tuple[bytes, str]:
        """The manifest document and its media type; checked against `digest` when the
        caller knows it, and against the registry's Docker-Content-Digest."""
        resp = await self._get(f"{self.base}/manifests/{reference}", MANIFEST_ACCEPT)
        try:
            data = await _read_limited(resp)
        finally:
            resp.release()
        got = sha256_digest(data)
        header = resp.headers.get("Docker-Content-Digest", "")
        if digest and got != digest:
            raise ImageError(f"manifest digest mismatch: want {digest}, got {got}")
        if header.startswith("sha256:") and header != got:
            raise ImageError(f"manifest digest mismatch: registry says {header}, got {got}")
        return data, resp.headers.get("Content-Type", "")

    async def blob_bytes(self, digest: str) -> bytes:
        resp = await self._get(f"{self.base}/blobs/{digest}")
        try:
            data = await _read_limited(resp)
        finally:
            resp.release()
        if sha256_digest(data) != digest:
            raise ImageError(f"blob digest mismatch: want {digest}, got {sha256_digest(data)}")
        return data

    async def download(self, digest: str, path: Path, step: Callable[[int], None]) -> None:
        """Stream a blob into `path`, hashing as it comes; ImageError on a mismatch."""
        resp = await self._get(f"{self.base}/blobs/{digest}")
        hasher = hashlib.sha256()
        try:
            with path.open("wb") as out:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
                    step(len(chunk))
        except (TimeoutError, aiohttp.ClientError) as e:
            raise ImageError(f"download of {digest} failed: {e}") from e
        finally:
            resp.release()
        got = "sha256:" + hasher.hexdigest()
        if got != digest:
            raise ImageError(f"blob digest mismatch: want {digest}, got {got}")

    async def _get(self, url: str, accept: str = "") -> aiohttp.ClientResponse:
        assert self.session is not None
        for attempt in range(2):
            headers = {"Accept": accept} if accept else {}
            if self.authorization:
                headers["Authorization"] = self.authorization
            try:
                resp = await self.session.get(url, headers=headers)
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                raise ImageError(f"registry {self.ref.host} unreachable: {e}") from e
            if resp.status == 401 and attempt == 0:
                challenge = resp.headers.get("WWW-Authenticate", "")
                resp.release()
                await self._authenticate(challenge)
                continue
            if resp.status >= 400:
                body = (await resp.text(errors="replace"))[:300]
                resp.release()
                raise ImageError(_status_message(self.ref, url, resp.status, body))
            return resp
        raise ImageError(f"{self.ref}: unauthorized (credentials refused)")

    async def _authenticate(self, challenge: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if not self.auth or not self.auth.username:
                raise ImageError(f"registry {self.ref.host} needs credentials")
            self.authorization = basic_header(self.auth)
        elif scheme == "bearer" and params.get("realm"):
            self.authorization = "Bearer " + await self._token(params)
        else:
            raise ImageError(f"registry {self.ref.host}: unsupported challenge {challenge!r}")

    async def _token(self, params: dict[str, str]) -> str:
        assert self.session is not None
        query = {"scope": params.get("scope") or f"repository:{self.ref.path}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        headers = {"Authorization": basic_header(self.auth)} \
            if self.auth and self.auth.username else {}
        try:
            async with self.session.get(params["realm"], params=query, headers=headers) as r:
                if r.status >= 400:
                    raise ImageError(f"token server refused ({r.status}) for {self.ref}")
                doc = await r.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as e:
            raise ImageError(f"token request for {self.ref} failed: {e}") from e
        token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise ImageError(f"token server sent no token for {self.ref}")
        return token


async def _read_limited(resp: aiohttp.ClientResponse) -> bytes:
    data = bytearray()
    try:
        async for chunk in resp.content.iter_chunked(CHUNK):
            data += chunk
            if len(data) > MAX_DOCUMENT:
                raise ImageError("registry document too large")
    except (TimeoutError, aiohttp.ClientError) as e:
        raise ImageError(f"registry read failed: {e}") from e
    return bytes(data)


def _status_message(ref: Reference, url: str, status: int, body: str) -> str:
    if status == 404:
        return f"{ref}: not found ({url.rsplit('/v2/', 1)[-1]})"
    if status in (401, 403):
        return f"{ref}: unauthorized ({status}): {body.strip()}"
    return f"{ref}: registry error {status}: {body.strip()}"
