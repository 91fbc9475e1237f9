"""One request's I/O: content negotiation, bounded body reading, Status and object replies."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from minikube13.api import codec, tables
from minikube13.registry import errors
from minikube13.registry.errors import StatusError
from minikube13.registry.user import UserInfo

log = logging.getLogger(__name__)

# What the middlewares learn about a request and the handlers read back.
USER = web.RequestKey("user", UserInfo)
VERB = web.RequestKey("verb", str)  # the apiserver's metric verb: GET, LIST, WATCH, POST...
RESOURCE = web.RequestKey("resource", str)

_READ_CHUNK = 64 * 1024
_ACCEPTED = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")


@dataclass(frozen=True)
class Negotiated:
    media: str  # codec.JSON or codec.YAML
    transform: tables.Transform | None = None


def negotiate(accept: str, include_object: str = "Metadata") -> Negotiated:
    """The first Accept entry we can serve, in the client's order (kubectl lists Table
    first, then plain JSON as its fallback); none at all is a 406."""
    entries = codec.parse_accept(accept)
    if not entries:
        return Negotiated(codec.JSON)
    for entry in entries:
        media = _media(entry.full)
        if media is None:
            continue
        as_kind, group, version = entry.transform
        if not as_kind:
            return Negotiated(media)
        if tables.supported(as_kind, group, version):
            return Negotiated(media, tables.Transform(as_kind, version, include_object))
    raise errors.not_acceptable("only the following media types are accepted: "
                                + ", ".join(_ACCEPTED))


def _media(full: str) -> str | None:
    if full in (codec.JSON, "application/*", "*/*"):
        return codec.JSON
    if full in (codec.YAML, "application/x-yaml", "text/yaml"):
        return codec.YAML
    return None


async def read_body(request: web.BaseRequest, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit`: by its
    Content-Length before reading, or while reading a chunked body (never all of it)."""
    length = request.content_length
    if length is not None and length > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)


def _too_large(limit: int) -> StatusError:
    return errors.too_large(f"the request body is larger than the limit of {limit} bytes")


def object_response(obj: Any, *, status: int = 200, media: str = codec.JSON,
                    warnings: list[str] | None = None) -> web.Response:
    content_type = codec.YAML if media == codec.YAML else codec.JSON
    resp = web.Response(status=status, body=codec.encode(obj, media),
                        headers={"Content-Type": content_type})
    for text in warnings or []:
        resp.headers.add("Warning", codec.warning_header(text))
    return resp


def status_response(error: StatusError) -> web.Response:
    # After a 413 aiohttp discards (does not keep) the unread rest of the body for a short
    # while, so a client that writes its whole body before reading still sees the Status.
    return object_response(error.status(), status=error.code)


def not_found_path() -> StatusError:
    """What the apiserver answers for a path it does not serve."""
    return StatusError(404, "NotFound", "the server could not find the requested resource",
                       {})
