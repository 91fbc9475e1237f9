"""memberlist messages <-> bytes: field names, raw strings, Go zero values, round trips."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikube13.gossip.messages import (
    Ack,
    Alive,
    Dead,
    ErrResp,
    IndirectPing,
    MessageType,
    Nack,
    NodeState,
    Ping,
    PushNodeState,
    PushPull,
    Suspect,
    User,
)
from minikube13.gossip.wire import WireError
from minikube13.gossip.wire.codec import decode_message, encode_message
from minikube13.gossip.wire.pushpull import decode_push_pull_body, encode_push_pull

LOOPBACK = b"\x7f\x00\x00\x01"
MESSAGES = [
    Ping(seq_no=1, node="a", source_addr=LOOPBACK, source_port=7946, source_node="b"),
    Ping(seq_no=2, node="x"),
    IndirectPing(seq_no=3, target=LOOPBACK, port=7946, node="n", nack=True,
                 source_addr=LOOPBACK, source_port=7000, source_node="me"),
    Ack(seq_no=4, payload=b"\x01coordinate"),
    Ack(seq_no=5),
    Nack(seq_no=6),
    ErrResp(error="boom"),
    Suspect(incarnation=7, node="a", from_="b"),
    Alive(incarnation=8, node="a", addr=LOOPBACK, port=7946, meta=b"\xff\x80",
          vsn=(1, 5, 2, 2, 5, 5)),
    Dead(incarnation=9, node="a", from_="a"),
    User(payload=b"\x02serf-opaque"),
]
PUSH_PULL = PushPull(nodes=(PushNodeState("s1", LOOPBACK, 7946, b"", 3, NodeState.SUSPECT),
                            PushNodeState("s2", b"\x00" * 16, 1, b"r", 1, NodeState.LEFT)),
                     join=True, user_state=b"\x02opaque")


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message: object) -> None:
    assert decode_message(encode_message(message)) == message  # type: ignore[arg-type]


def test_alive_uses_go_field_names_and_raw_strings() -> None:
    msg = Alive(incarnation=1, node="n1", addr=LOOPBACK, port=7946, meta=b"m",
                vsn=(1, 5, 2, 2, 5, 5))
    data = encode_message(msg)
    assert data[0] == MessageType.ALIVE
    body = msgpack.unpackb(data[1:], raw=True)
    assert list(body) == [b"Incarnation", b"Node", b"Addr", b"Port", b"Meta", b"Vsn"]
    assert body[b"Vsn"] == bytes([1, 5, 2, 2, 5, 5])      # []uint8 is a byte string in Go
    assert b"\xc4" not in data and b"\xd9" not in data     # no bin8 / str8: old-spec raw only


def test_ping_omits_empty_source_fields_like_go_omitempty() -> None:
    body = msgpack.unpackb(encode_message(Ping(seq_no=1, node="a"))[1:], raw=True)
    assert set(body) == {b"SeqNo", b"Node"}


def test_missing_fields_and_nil_take_go_zero_values() -> None:
    data = bytes([MessageType.ACK_RESP]) + msgpack.packb({b"SeqNo": 9, b"Payload": None})
    assert decode_message(data) == Ack(seq_no=9, payload=b"")
    data = bytes([MessageType.PING]) + msgpack.packb({b"SeqNo": 3, b"Extra": 1})
    assert decode_message(data) == Ping(seq_no=3, node="")


def test_user_message_is_type_byte_plus_opaque_payload() -> None:
    assert encode_message(User(payload=b"abc")) == b"\x08abc"


def test_push_pull_round_trips_and_is_no_datagram_message() -> None:
    data = encode_push_pull(PUSH_PULL)
    assert data[0] == MessageType.PUSH_PULL
    assert decode_push_pull_body(data[1:]) == PUSH_PULL
    with pytest.raises(WireError):
        encode_message(PUSH_PULL)
    with pytest.raises(WireError):
        decode_message(data)


def test_push_pull_layout_is_header_nodes_then_user_state() -> None:
    data = encode_push_pull(PUSH_PULL)
    unpacker = msgpack.Unpacker(raw=True)
    unpacker.feed(data[1:])
    header = unpacker.unpack()
    assert header == {b"Nodes": 2, b"UserStateLen": 7, b"Join": True}
    assert unpacker.unpack()[b"Name"] == b"s1"
    assert unpacker.unpack()[b"State"] == NodeState.LEFT
    assert data.endswith(b"\x02opaque")


@pytest.mark.parametrize("data", [b"", b"\x63", b"\x07\x00", b"\x00\x92\x01", b"\x00\xc1",
                                  b"\x04\x81\xa4Port\xa1x"])
def test_garbage_raises_wire_error(data: bytes) -> None:
    with pytest.raises(WireError):
        decode_message(data)


names = st.text(max_size=40)
addrs = st.sampled_from([LOOPBACK, b"\x00" * 16, b""])
u32 = st.integers(min_value=0, max_value=2**32 - 1)
u16 = st.integers(min_value=0, max_value=2**16 - 1)


@given(st.one_of(
    st.builds(Ping, u32, names, addrs, u16, names),
    st.builds(IndirectPing, u32, addrs, u16, names, st.booleans(), addrs, u16, names),
    st.builds(Ack, u32, st.binary(max_size=64)),
    st.builds(Suspect, u32, names, names),
    st.builds(Alive, u32, names, addrs, u16, st.binary(max_size=512),
              st.tuples(*[st.integers(0, 255)] * 6)),
    st.builds(User, st.binary(max_size=200)),
))
def test_generated_messages_round_trip(message: object) -> None:
    assert decode_message(encode_message(message)) == message  # type: ignore[arg-type]
