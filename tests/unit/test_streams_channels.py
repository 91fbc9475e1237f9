"""The WebSocket channel codec that kubectl exec/attach/cp speak (v4/v5.channel.k8s.io)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikube13.api import channels
from minikube13.api.channels import Close, Data, TerminalSize

V5 = channels.PROTOCOLS[channels.V5]
V4 = channels.PROTOCOLS[channels.V4]
B64 = channels.PROTOCOLS[channels.V4_BASE64]


def test_negotiate_follows_the_clients_order() -> None:
    """The first offered protocol we speak wins; none in common is None."""
    assert channels.negotiate(["v5.channel.k8s.io"]) is V5
    assert channels.negotiate(["v9.channel.k8s.io", " v4.channel.k8s.io", "v5.channel.k8s.io"]
                              ) is V4
    assert channels.negotiate(["SPDY/3.1"]) is None
    assert channels.negotiate([]) is None


def test_binary_messages_carry_the_channel_in_the_first_byte() -> None:
    """stdout data goes out as [1, data...]; stdin comes in as [0, data...]."""
    assert channels.encode(V5, channels.STDOUT, b"hi") == b"\x01hi"
    assert channels.decode(V5, b"\x00ls\n") == Data(channels.STDIN, b"ls\n")
    assert channels.decode(V5, b"") is None


def test_v5_close_signal_and_v4_without_it() -> None:
    """[255, 0] half-closes stdin in v5; v4 knows no such signal."""
    assert channels.decode(V5, b"\xff\x00") == Close(channels.STDIN)
    assert channels.decode(V4, b"\xff\x00") == Data(255, b"\x00")
    with pytest.raises(channels.ChannelError):
        channels.decode(V5, b"\xff")


@given(st.integers(0, 4), st.binary(max_size=200))
def test_base64_round_trip(channel: int, data: bytes) -> None:
    """Base64 protocols: a text message of the channel digit and base64 data."""
    message = channels.encode(B64, channel, data)
    assert isinstance(message, str) and message[0] == str(channel)
    assert channels.decode(B64, message) == Data(channel, data)


def test_bad_base64_is_an_error() -> None:
    with pytest.raises(channels.ChannelError):
        channels.decode(B64, "0!!!")


def test_resize_messages() -> None:
    """kubectl sends {"Width":w,"Height":h} (json.Encoder adds a newline); several may
    share one message."""
    assert channels.parse_resize(b'{"Width":80,"Height":24}\n') == [TerminalSize(80, 24)]
    assert channels.parse_resize(b'{"Width":1,"Height":2}\n{"Width":3,"Height":4}\n') == \
        [TerminalSize(1, 2), TerminalSize(3, 4)]
    assert channels.parse_resize(b"") == []
    for bad in (b"nope", b"[1]", b'{"Width":-1,"Height":2}', b'{"Width":"80"}'):
        with pytest.raises(channels.ChannelError):
            channels.parse_resize(bad)


def test_exit_status_is_what_kubectl_decodes() -> None:
    """0 is a bare Success; N is NonZeroExitCode with an ExitCode cause holding N."""
    assert channels.error_payload(V5, channels.exit_status(["true"], 0)) == \
        b'{"metadata":{},"status":"Success"}'
    status = json.loads(channels.error_payload(V5, channels.exit_status(["sh", "-c", "exit 3"],
                                                                       3)))
    assert status["status"] == "Failure"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert status["message"] == ("command terminated with non-zero exit code: error executing "
                                 "command [sh -c exit 3], exit code 3")


def test_old_protocols_get_plain_text_errors() -> None:
    """Before v4 the error channel carries only a failure's message."""
    v1 = channels.PROTOCOLS[channels.V1]
    assert channels.error_payload(v1, channels.success_status()) == b""
    assert channels.error_payload(v1, channels.failure_status("boom")) == b"boom"
    assert json.loads(channels.error_payload(V4, channels.failure_status("boom")))[
        "reason"] == "InternalError"
