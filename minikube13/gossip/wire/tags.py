"""Serf's node-meta encoding of tags (serf.go encodeTags/decodeTags).

Protocol >= 3: magic byte 0xFF followed by a msgpack map[string]string. Older Serf (and a
meta without the magic byte) carries just the role as a plain string.
"""

from __future__ import annotations

import msgpack

from minikube13.gossip.wire import WireError
from minikube13.gossip.wire.codec import pack

TAG_MAGIC = 0xFF
META_MAX_SIZE = 512          # memberlist's MetaMaxSize


def encode_tags(tags: dict[str, str]) -> bytes:
    meta = bytes([TAG_MAGIC]) + pack({k: tags[k] for k in sorted(tags)})
    if len(meta) > META_MAX_SIZE:
        raise WireError(f"encoded tags are {len(meta)} bytes, over {META_MAX_SIZE}")
    return meta


def decode_tags(meta: bytes) -> dict[str, str]:
    """Tags from a node's meta; an empty meta has no tags, a plain one is the role."""
    if not meta:
        return {}
    if meta[0] != TAG_MAGIC:
        return {"role": meta.decode("utf-8", "replace")}
    try:
        raw = msgpack.unpackb(meta[1:], raw=True, strict_map_key=False)
    except (msgpack.UnpackException, ValueError) as err:
        raise WireError(f"bad tag map: {err}") from err
    if not isinstance(raw, dict):
        raise WireError("tags are not a map")
    return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
