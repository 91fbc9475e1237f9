"""Datagrams and streams as memberlist frames them: LZW, compound, CRC, AES-GCM, labels."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikube13.gossip.messages import Ack, Alive, MessageType, NodeState, Ping, PushPull, User
from minikube13.gossip.wire import WireError, lzw
from minikube13.gossip.wire.codec import encode_message
from minikube13.gossip.wire.keyring import Keyring, encrypted_length
from minikube13.gossip.wire.packets import (
    PacketOptions,
    compress_payload,
    make_compound,
    open_packet,
    pack_messages,
    seal_packet,
    split_compound,
)
from minikube13.gossip.wire.streams import encode_stream_message, parse_stream, seal_stream
from minikube13.gossip.wire.tags import decode_tags, encode_tags

KEY = bytes(range(32))
# A join push/pull that a real serf agent (Debian serf, memberlist protocol 2, -encrypt with
# KEY, -tag role=x) sent over TCP: encrypted stream framing around a compressed message.
# A gossip datagram the same agent sent: encrypted, CRC, compound of Alive, Alive, User.
SERF_GOSSIP_PACKET = bytes.fromhex("01dfeb0475fbc975738763e331764ff8ba8b504f9578f414b2f303c44f6843279634033624c1174368387229c52a2e366ee1c949c8787e4d3d17a7d0914329effc0d37aeaa97ca1cd9233d37fa99f6967081bd1ca29d50ade1d814d698943f077cee1daf5aa1bfe33f91cc20e8eb920cf50fcc73f8d33d349f3e046180ccd7b5c8beffb55f7030a6a2a2609d0d5ffd416e68f51c7bdff27863a181dd61421da469009cccece6bcfa224e83a23aa5f71ada2b9ac3b869a089cc92a9443876447738c1960abded")
SERF_JOIN_STREAM = bytes.fromhex("0a000000fd01542aa1d84e649aa2cbe30dbe82a3b994bc518d75f6913c3147adb9237500b8ef358751e23a31724e4160733d016bf4daa55e24985472ad9f3bd5521c37ad15dfe2198348f361637ac2c09aee29a0c9441e1254ca3b9001670a4031824912ccaf5cbe38f18b8fe5f6119e92bfa7cc79dd741615aa2df5210bf424b60b6677176fe9e1949f684df889ec076cb5e095c78e1998274d3ecf964d7d8ef82052ca202a35c0ea6bfb38813945f7963b49265c873e6a379786932dea2b2957e255710292dece37413c477ce7f9cbcf326bcd6a28fdeff01c10f5236a1b197d0931e9739cdabb7a66cf68597edd975bb1c55e233d5919d979971cc46898941e79")


def test_real_serf_join_stream_decodes() -> None:
    msg = parse_stream(SERF_JOIN_STREAM, PacketOptions(keyring=Keyring(KEY)))
    assert isinstance(msg, PushPull) and msg.join
    (node,) = msg.nodes
    assert (node.name, node.addr, node.port, node.state) == ("s1", bytes([127, 0, 0, 51]), 7946,
                                                              NodeState.ALIVE)
    assert node.vsn == (1, 5, 2, 2, 5, 5)
    assert decode_tags(node.meta) == {"role": "x"}
    assert msg.user_state.startswith(b"\x02")      # serf's pushPull user state, opaque to us


def test_real_serf_gossip_packet_decodes() -> None:
    opts = PacketOptions(keyring=Keyring(KEY))
    messages, problems = open_packet(SERF_GOSSIP_PACKET, opts)
    assert problems == []
    assert [type(m).__name__ for m in messages] == ["Alive", "Alive", "User"]
    alive = messages[1]
    assert isinstance(alive, Alive) and alive.node == "s1" and alive.vsn == (1, 5, 2, 2, 5, 5)
    assert decode_tags(alive.meta) == {"role": "x"}
    assert Keyring(KEY).decrypt(SERF_GOSSIP_PACKET)[0] == MessageType.HAS_CRC


def test_lzw_output_is_byte_identical_to_go() -> None:
    plain = Keyring(KEY).decrypt(SERF_JOIN_STREAM[5:], SERF_JOIN_STREAM[:5])
    assert plain[0] == MessageType.COMPRESS
    go_buf = __import__("msgpack").unpackb(plain[1:], raw=True)[b"Buf"]
    assert lzw.compress(lzw.decompress(go_buf)) == go_buf


@pytest.mark.parametrize("data", [b"", b"a", b"ab" * 3000, os.urandom(9000), bytes(range(256)) * 40])
def test_lzw_round_trips_through_table_resets(data: bytes) -> None:
    assert lzw.decompress(lzw.compress(data)) == data


def test_lzw_rejects_truncated_and_invalid_codes() -> None:
    with pytest.raises(WireError):
        lzw.decompress(lzw.compress(b"hello world")[:-2])
    with pytest.raises(WireError):
        lzw.decompress(b"\x00\xff\xff")


def test_keyring_versions_and_key_rotation() -> None:
    old, new = os.urandom(16), os.urandom(24)
    for version in (0, 1):
        sealed = Keyring(old).encrypt(b"payload", b"aad", version)
        assert len(sealed) == encrypted_length(version, 7)
        assert Keyring(new, [old]).decrypt(sealed, b"aad") == b"payload"
        with pytest.raises(WireError):
            Keyring(new).decrypt(sealed, b"aad")
        with pytest.raises(WireError):
            Keyring(old).decrypt(sealed, b"other aad")
    with pytest.raises(WireError):
        Keyring(b"short")


def test_compound_split_reports_truncation() -> None:
    compound = make_compound([b"\x08a", b"\x08bb", b"\x08ccc"])
    assert split_compound(compound[1:]) == ([b"\x08a", b"\x08bb", b"\x08ccc"], 0)
    assert split_compound(compound[1:-1]) == ([b"\x08a", b"\x08bb"], 1)


@pytest.mark.parametrize("opts", [PacketOptions(), PacketOptions(compress=False),
                                  PacketOptions(keyring=Keyring(KEY), label="dc1"),
                                  PacketOptions(keyring=Keyring(KEY), encryption_version=0)])
@pytest.mark.parametrize("crc", [True, False])
def test_packets_round_trip(opts: PacketOptions, crc: bool) -> None:
    msgs = [Ping(1, "n"), Ack(2, b"p" * 300), User(b"u" * 500),
            Alive(3, "n", b"\x7f\x00\x00\x01", 7946, b"m")]
    for payload in pack_messages([encode_message(m) for m in msgs], 1400):
        assert open_packet(seal_packet(payload, opts, crc), opts) == (msgs, [])


def test_compressed_compound_nests_like_memberlist() -> None:
    inner = make_compound([encode_message(Ping(1, "a")), encode_message(Ack(1))])
    assert open_packet(compress_payload(inner), PacketOptions()) == ([Ping(1, "a"), Ack(1)], [])


def test_packet_with_wrong_key_label_or_crc_is_refused() -> None:
    sealed = seal_packet(encode_message(Ping(1, "a")), PacketOptions(keyring=Keyring(KEY)), True)
    with pytest.raises(WireError):
        open_packet(sealed, PacketOptions(keyring=Keyring(os.urandom(32))))
    labelled = seal_packet(b"\x08x", PacketOptions(label="a"), False)
    with pytest.raises(WireError):
        open_packet(labelled, PacketOptions(label="b"))
    bad = bytearray(seal_packet(b"\x08xyz", PacketOptions(compress=False), True))
    bad[-1] ^= 1
    with pytest.raises(WireError):
        open_packet(bytes(bad), PacketOptions())


def test_pack_messages_respects_budget_and_part_limit() -> None:
    payloads = pack_messages([b"\x08" + b"x" * 99] * 40, 1000)
    assert all(len(p) <= 1000 + 2 for p in payloads) and len(payloads) == 5
    assert len(pack_messages([b"\x08"] * 600, 10**6)) == 3


@pytest.mark.parametrize("opts", [PacketOptions(), PacketOptions(compress=False),
                                  PacketOptions(keyring=Keyring(KEY), label="x")])
def test_streams_parse_incrementally(opts: PacketOptions) -> None:
    for msg in [PushPull(nodes=(), join=False, user_state=b"s" * 50), Ping(1, "a"),
                Ack(1, b""), User(b"hello")]:
        wire = seal_stream(encode_stream_message(msg), opts)
        for cut in range(len(wire)):
            assert parse_stream(wire[:cut], opts) is None
        assert parse_stream(wire, opts) == msg


def test_stream_encryption_mismatch_is_refused() -> None:
    plain = seal_stream(encode_stream_message(Ping(1, "a")), PacketOptions())
    with pytest.raises(WireError):
        parse_stream(plain, PacketOptions(keyring=Keyring(KEY)))
    with pytest.raises(WireError):
        parse_stream(SERF_JOIN_STREAM, PacketOptions())
    with pytest.raises(WireError):
        parse_stream(SERF_JOIN_STREAM, PacketOptions(keyring=Keyring(os.urandom(16))))
    huge = bytes([MessageType.ENCRYPT]) + struct.pack(">I", 2**31)
    with pytest.raises(WireError):
        parse_stream(huge, PacketOptions(keyring=Keyring(KEY)))


def test_tags_encode_like_serf() -> None:
    meta = encode_tags({"role": "server", "zone": "a"})
    assert meta == b"\xff\x82\xa4role\xa6server\xa4zone\xa1a"
    assert decode_tags(meta) == {"role": "server", "zone": "a"}
    assert decode_tags(b"web") == {"role": "web"}
    assert decode_tags(b"") == {}
    with pytest.raises(WireError):
        encode_tags({"big": "x" * 600})


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=10))
def test_tags_round_trip(tags: dict[str, str]) -> None:
    assert decode_tags(encode_tags(tags)) == tags
