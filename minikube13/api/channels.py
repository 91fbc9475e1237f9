"""The Kubernetes remote-command channel protocol over WebSocket (pure codec).

Each WebSocket message carries one channel: its first byte names the channel, the rest is
the data. Channels: 0 stdin, 1 stdout, 2 stderr, 3 error (the final Status), 4 resize
(JSON `{"Width": w, "Height": h}`). `v5.channel.k8s.io` adds a CLOSE signal: the message
`[255, channel]` half-closes a channel (kubectl closes stdin that way once its input ends).
The base64 variants send text messages: the channel as an ASCII digit, then base64 data.

Versions: v4 and v5 carry a JSON Status on the error channel (exit codes as
`reason: NonZeroExitCode` with an `ExitCode` cause); older versions carry plain text.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STDIN = 0
STDOUT = 1
STDERR = 2
ERROR = 3
RESIZE = 4
CLOSE = 255

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"

EXIT_CODE_REASON = "NonZeroExitCode"
EXIT_CODE_CAUSE = "ExitCode"


class ChannelError(ValueError):
    """A message that is not a valid channel message."""


@dataclass(frozen=True)
class Protocol:
    name: str
    base64: bool = False          # text messages: channel digit + base64 data
    structured_errors: bool = False  # the error channel carries a Status (v4+)
    stream_close: bool = False    # the CLOSE signal (v5)


# In our order of preference; the client's order decides (see `negotiate`).
PROTOCOLS: dict[str, Protocol] = {
    V5: Protocol(V5, structured_errors=True, stream_close=True),
    V4: Protocol(V4, structured_errors=True),
    V4_BASE64: Protocol(V4_BASE64, base64=True, structured_errors=True),
    V1: Protocol(V1),
    V1_BASE64: Protocol(V1_BASE64, base64=True),
}


@dataclass(frozen=True)
class Data:
    """Bytes on one channel."""
    channel: int
    data: bytes


@dataclass(frozen=True)
class Close:
    """The peer will send nothing more on `channel` (v5 CLOSE signal)."""
    channel: int


@dataclass(frozen=True)
class TerminalSize:
    width: int
    height: int


Frame = Data | Close


def negotiate(offered: Sequence[str]) -> Protocol | None:
    """The first protocol the client offered that we speak (the client lists its
    preference first, as the Sec-WebSocket-Protocol header does)."""
    for name in offered:
        protocol = PROTOCOLS.get(name.strip())
        if protocol is not None:
            return protocol
    return None


def encode(protocol: Protocol, channel: int, data: bytes) -> bytes | str:
    """One message for `data` on `channel`: bytes (binary message) or str (text)."""
    if protocol.base64:
        return chr(ord("0") + channel) + base64.b64encode(data).decode("ascii")
    return bytes([channel]) + data


def decode(protocol: Protocol, message: bytes | str) -> Frame | None:
    """The frame in one client message; None for an empty message (a keep-alive)."""
    if protocol.base64:
        raw = message.encode("ascii", "replace") if isinstance(message, str) else message
        if not raw:
            return None
        channel = raw[0] - ord("0")
        try:
            data = base64.b64decode(raw[1:], validate=True)
        except (binascii.Error, ValueError) as e:
            raise ChannelError(f"bad base64 data on channel {channel}") from e
    else:
        raw = message if isinstance(message, bytes) else message.encode()
        if not raw:
            return None
        channel, data = raw[0], raw[1:]
    if channel == CLOSE and protocol.stream_close:
        if len(data) != 1:
            raise ChannelError("a CLOSE signal names exactly one channel")
        return Close(data[0])
    return Data(channel, data)


def parse_resize(data: bytes) -> list[TerminalSize]:
    """The terminal sizes in a resize message (one JSON object per size, usually one)."""
    text = data.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    sizes: list[TerminalSize] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return sizes
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise ChannelError("a resize message must be JSON") from e
        if not isinstance(obj, dict):
            raise ChannelError("a resize message must be a JSON object")
        sizes.append(TerminalSize(_dimension(obj, "Width"), _dimension(obj, "Height")))


def _dimension(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 65536:
        raise ChannelError(f"bad terminal {key.lower()}: {value!r}")
    return value


# -- the error channel ----------------------------------------------------------------------

def success_status() -> dict[str, Any]:
    """What the kubelet sends when the command exited 0."""
    return {"metadata": {}, "status": "Success"}


def exit_status(command: Sequence[str], code: int) -> dict[str, Any]:
    """Success for 0; otherwise the Status from which kubectl takes its own exit code."""
    if code == 0:
        return success_status()
    why = f"error executing command [{' '.join(command)}], exit code {code}"
    return {
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: {why}",
        "reason": EXIT_CODE_REASON,
        "details": {"causes": [{"reason": EXIT_CODE_CAUSE, "message": str(code)}]},
    }


def failure_status(message: str) -> dict[str, Any]:
    """A command that could not run at all (the kubelet's InternalError)."""
    return {"metadata": {}, "status": "Failure", "message": message,
            "reason": "InternalError", "code": 500,
            "details": {"causes": [{"message": message}]}}


def error_payload(protocol: Protocol, status: dict[str, Any]) -> bytes:
    """The bytes for the error channel: the Status itself (v4+) or, for the old
    protocols, nothing on success and the message text on failure."""
    if protocol.structured_errors:
        return json.dumps(status, separators=(",", ":")).encode()
    if status.get("status") == "Success":
        return b""
    return str(status.get("message", "")).encode()
