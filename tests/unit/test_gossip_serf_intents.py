"""Serf's leave and join intents: their bytes, and what the core makes of them.

A Serf agent that leaves gossips a leave intent before memberlist's Dead about itself; that
Dead may never reach us, so a member whose intent we saw is left, not failed, however its
death reaches us. We send one too when we leave, so Serf agents list us left.
"""

from __future__ import annotations

import random

import msgpack
import pytest

from minikube13.gossip.config import GossipConfig
from minikube13.gossip.core import GossipCore
from minikube13.gossip.effects import Deliver, Effect, MemberChanged, SendPacket
from minikube13.gossip.messages import (
    Ack,
    Alive,
    Dead,
    NodeState,
    Packet,
    PacketMessage,
    Ping,
    PushPull,
    Suspect,
    User,
)
from minikube13.gossip.wire.serf_messages import (
    MAX_LTIME,
    JoinIntent,
    LamportClock,
    LeaveIntent,
    SerfIntent,
    decode_intent,
    encode_intent,
    push_pull_ltime,
)

NO_PUSH_PULL = GossipConfig(notify_suspect=True, push_pull_interval=0)
PORT = 7946
SENDER = ("10.0.0.99", PORT)

# Small typed cousins of gossip_core_support's helpers (that module is not mypy-clean).


def alive(i: int, incarnation: int = 1) -> Alive:
    return Alive(incarnation=incarnation, node=f"n{i}", addr=bytes((10, 0, 0, i)), port=PORT)


def deliver(core: GossipCore, *messages: PacketMessage, now: float = 0.0) -> list[Effect]:
    return core.receive(Packet(SENDER, tuple(messages)), now)


def changes(effects: list[Effect]) -> list[tuple[str, str]]:
    return [(e.member.name, e.kind) for e in effects if isinstance(e, MemberChanged)]


def sent(effects: list[Effect]) -> list[PacketMessage]:
    return [m for e in effects if isinstance(e, SendPacket) for m in e.messages]


def run_until(core: GossipCore, end: float, now: float = 0.0,
              answer: bool = False) -> list[Effect]:
    """Tick at each wakeup until `end`; with `answer`, every ping is acked at once."""
    out: list[Effect] = []
    while (at := core.next_wakeup()) <= end:
        now = max(now, at)
        effects = core.tick(now)
        out += effects
        for ping in sent(effects) if answer else []:
            if isinstance(ping, Ping):
                out += deliver(core, Ack(seq_no=ping.seq_no), now=now)
    return out


def raw(text: str) -> bytes:
    """A msgpack fixstr, as go-msgpack writes Go strings."""
    return bytes([0xA0 | len(text)]) + text.encode()


# -- the bytes ----------------------------------------------------------------------------

# Serf's encodeMessage: one type byte, then the struct as a map keyed by Go field names.
SERF_LEAVE = b"\x00\x82" + raw("LTime") + b"\x07" + raw("Node") + raw("serf1")
SERF_LEAVE_PRUNE = (b"\x00\x83" + raw("LTime") + b"\xcd\x01\x00" + raw("Node") + raw("s")
                    + raw("Prune") + b"\xc3")
SERF_LEAVE_094 = (b"\x00\x83" + raw("LTime") + b"\x07" + raw("Node") + raw("serf1")
                  + raw("Prune") + b"\xc2")
SERF_JOIN = b"\x01\x82" + raw("LTime") + b"\x2a" + raw("Node") + raw("serf2")


def test_intents_round_trip_through_serf_bytes() -> None:
    assert decode_intent(SERF_LEAVE) == LeaveIntent(7, "serf1")
    assert decode_intent(SERF_LEAVE_094) == LeaveIntent(7, "serf1")
    assert decode_intent(SERF_LEAVE_PRUNE) == LeaveIntent(256, "s", prune=True)
    assert decode_intent(SERF_JOIN) == JoinIntent(42, "serf2")
    assert encode_intent(LeaveIntent(7, "serf1")) == SERF_LEAVE     # no Prune key: Serf 0.8 reads it
    assert encode_intent(JoinIntent(42, "serf2")) == SERF_JOIN
    for intent in (LeaveIntent(256, "s", prune=True), LeaveIntent(MAX_LTIME, "n" * 40),
                   JoinIntent(0, "ünï")):
        assert decode_intent(encode_intent(intent)) == intent


@pytest.mark.parametrize("payload", [
    b"",
    b"\x00",
    b"\x03\x82" + raw("LTime") + b"\x07" + raw("Name") + raw("deploy"),   # a user event
    b"\x09" + SERF_LEAVE,                                                  # a relay
    b"serf",
    b"\x00\xc1",                                                           # never-used byte
    b"\x00\x82" + raw("LTime") + b"\x07",                                  # truncated
    b"\x00\x93\x01\x02\x03",                                               # not a map
    b"\x00\x81" + raw("LTime") + b"\x07",                                  # no Node
    b"\x00\x82" + raw("LTime") + raw("7") + raw("Node") + raw("a"),       # LTime a string
    b"\x00\x82" + raw("LTime") + b"\xff" + raw("Node") + raw("a"),        # LTime -1
    b"\x00\x82" + raw("LTime") + b"\xc3" + raw("Node") + raw("a"),        # LTime true
    b"\x00\x82" + raw("LTime") + b"\x07" + raw("Node") + b"\x05",         # Node a number
    b"\x00\x83" + raw("LTime") + b"\x07" + raw("Node") + raw("a") + raw("Prune") + b"\x01",
    b"\x00\x81\x91\x01\x01",                                               # an array as key
])
def test_other_messages_and_junk_are_not_intents(payload: bytes) -> None:
    assert decode_intent(payload) is None


def test_the_lamport_clock_starts_at_one_and_moves_past_what_it_witnesses() -> None:
    clock = LamportClock()
    assert clock.take() == 1 and clock.time == 2
    clock.witness(1)
    assert clock.time == 2
    clock.witness(41)
    assert clock.take() == 42 and clock.time == 43
    clock.witness(MAX_LTIME)
    assert clock.take() == MAX_LTIME == clock.time      # still a uint64


# -- the core -------------------------------------------------------------------------------

def intent_msg(intent: SerfIntent) -> User:
    return User(encode_intent(intent))


def new_pool() -> GossipCore:
    """n1 (us), knowing n2..n5."""
    core = GossipCore(NO_PUSH_PULL, "n1", bytes((10, 0, 0, 1)), PORT, b"", random.Random(7),
                      0.0)
    deliver(core, *(alive(i) for i in range(2, 6)))
    return core


def pool_of_five() -> GossipCore:
    """n1 (us) and n2..n5, settled (every probe answered) for 10 s."""
    core = new_pool()
    run_until(core, 10.0, answer=True)
    return core


def suspected_to_death(core: GossipCore, name: str, now: float = 10.0) -> list[Effect]:
    """Three members accuse `name`; run until its suspicion runs out (at most 24 s)."""
    for i, accuser in enumerate(("n3", "n4", "n5")):
        deliver(core, Suspect(incarnation=1, node=name, from_=accuser), now=now + i * 0.1)
    return run_until(core, now + 30.0, now + 0.2, answer=True)


def status(core: GossipCore, name: str) -> NodeState | None:
    member = core.member(name)
    return None if member is None else member.state


def decoded_users(effects: list[Effect]) -> list[SerfIntent | None]:
    return [decode_intent(m.payload) for m in sent(effects) if isinstance(m, User)]


def test_a_member_that_announced_its_leave_and_then_dies_has_left() -> None:
    core = pool_of_five()
    msg = intent_msg(LeaveIntent(3, "n2"))
    effects = deliver(core, msg, now=10.0)
    assert effects == [Deliver(msg, SENDER)]                  # no change yet: still alive
    assert status(core, "n2") == NodeState.ALIVE
    changed = changes(suspected_to_death(core, "n2"))
    assert ("n2", "leave") in changed and ("n2", "fail") not in changed
    assert status(core, "n2") == NodeState.LEFT


def test_a_member_that_announced_nothing_fails() -> None:
    core = pool_of_five()
    changed = changes(suspected_to_death(core, "n2"))
    assert ("n2", "fail") in changed
    assert status(core, "n2") == NodeState.DEAD


def test_a_dead_from_someone_else_after_the_intent_is_a_leave_too() -> None:
    core = pool_of_five()
    deliver(core, intent_msg(LeaveIntent(3, "n2")), now=10.0)
    assert changes(deliver(core, Dead(incarnation=1, node="n2", from_="n3"), now=11.0)) == \
        [("n2", "leave")]
    assert status(core, "n2") == NodeState.LEFT


def test_an_intent_is_gossiped_on_once_beside_the_members_own_news() -> None:
    core = new_pool()
    deliver(core, alive(2, incarnation=2))                # queued: an Alive about n2
    before = core.broadcasts_pending()
    msg = intent_msg(LeaveIntent(3, "n2"))
    deliver(core, msg)
    assert core.broadcasts_pending() == before + 1         # a key of its own
    deliver(core, msg)                                     # an echo: old news
    deliver(core, intent_msg(LeaveIntent(2, "n2")))        # older still
    assert core.broadcasts_pending() == before + 1
    gossip = sent(run_until(core, 1.0))
    users = [m for m in gossip if isinstance(m, User)]
    assert users and all(m == msg for m in users)          # passed on unchanged
    assert any(isinstance(m, Alive) and m.node == "n2" and m.incarnation == 2 for m in gossip)


def test_a_newer_alive_clears_the_leaving_mark() -> None:
    core = pool_of_five()
    deliver(core, intent_msg(LeaveIntent(3, "n2")), now=10.0)
    deliver(core, alive(2, incarnation=2), now=10.5)       # it came back
    assert changes(deliver(core, Dead(incarnation=2, node="n2", from_="n3"), now=11.0)) == \
        [("n2", "fail")]


def test_an_alive_that_is_not_newer_keeps_the_mark() -> None:
    core = pool_of_five()
    deliver(core, intent_msg(LeaveIntent(3, "n2")), now=10.0)
    deliver(core, alive(2, incarnation=1), now=10.5)
    assert changes(deliver(core, Dead(incarnation=1, node="n2", from_="n3"), now=11.0)) == \
        [("n2", "leave")]


def test_a_newer_join_intent_clears_the_mark_an_older_one_does_not() -> None:
    core = pool_of_five()
    deliver(core, intent_msg(LeaveIntent(5, "n2")), now=10.0)
    deliver(core, intent_msg(JoinIntent(4, "n2")), now=10.1)      # older than the leave
    deliver(core, intent_msg(LeaveIntent(5, "n3")), now=10.0)
    deliver(core, intent_msg(JoinIntent(6, "n3")), now=10.1)      # newer: n3 stays
    assert changes(deliver(core, Dead(incarnation=1, node="n2", from_="n4"),
                           Dead(incarnation=1, node="n3", from_="n4"), now=11.0)) == \
        [("n2", "leave"), ("n3", "fail")]


def test_a_late_intent_turns_a_failed_member_into_a_left_one() -> None:
    core = pool_of_five()
    deliver(core, Dead(incarnation=1, node="n2", from_="n3"), now=10.0)
    assert status(core, "n2") == NodeState.DEAD
    assert changes(deliver(core, intent_msg(LeaveIntent(3, "n2")), now=10.5)) == \
        [("n2", "leave")]
    assert status(core, "n2") == NodeState.LEFT
    assert changes(deliver(core, intent_msg(LeaveIntent(4, "n2")), now=10.6)) == []


def test_intents_about_strangers_are_only_delivered() -> None:
    core = pool_of_five()
    before = core.broadcasts_pending()
    msg = intent_msg(LeaveIntent(3, "n9"))
    assert deliver(core, msg, now=10.0) == [Deliver(msg, SENDER)]
    assert core.broadcasts_pending() == before


def test_our_leave_gossips_a_leave_intent_first_then_the_dead() -> None:
    core = pool_of_five()
    deliver(core, intent_msg(JoinIntent(41, "n3")), now=10.0)     # witnessed: LTime 42 next
    effects = core.leave(10.5)
    assert changes(effects) == [("n1", "leave")]
    # A gossip round with the intent, then one with the Dead (and the intent's last sends).
    packets = [e.messages for e in effects if isinstance(e, SendPacket)]
    first_dead = next(i for i, msgs in enumerate(packets)
                      if any(isinstance(m, Dead) and m.node == m.from_ == "n1" for m in msgs))
    assert first_dead > 0 and all(any(isinstance(m, User) for m in msgs)
                                  for msgs in packets[:first_dead])
    ours = [i for i in decoded_users(effects) if i is not None and i.node == "n1"]
    assert ours and set(ours) == {LeaveIntent(42, "n1")}


def test_our_echoed_leave_intent_is_not_refuted() -> None:
    core = pool_of_five()
    core.leave(10.0)
    run_until(core, 12.0, 10.0)
    assert core.broadcasts_pending() == 0
    deliver(core, intent_msg(LeaveIntent(5, "n1")), now=12.0)     # newer, yet we did leave
    assert core.broadcasts_pending() == 0


def test_a_leave_intent_about_us_while_we_stay_is_refuted_with_a_join_intent() -> None:
    core = pool_of_five()
    deliver(core, intent_msg(LeaveIntent(7, "n1")), now=10.0)
    assert set(decoded_users(run_until(core, 11.0, 10.0))) == {JoinIntent(8, "n1")}
    assert status(core, "n1") == NodeState.ALIVE


def serf_push_pull_state(ltime: int, status_ltimes: dict[bytes, int]) -> bytes:
    """What a Serf agent puts in a push/pull's user state (messagePushPull)."""
    body = {b"LTime": ltime, b"StatusLTimes": status_ltimes, b"LeftMembers": [],
            b"EventLTime": 1, b"Events": [], b"QueryLTime": 1}
    return bytes([2]) + msgpack.packb(body, use_bin_type=False)


def test_a_serf_push_pull_state_gives_the_newest_lamport_time() -> None:
    assert push_pull_ltime(serf_push_pull_state(10, {b"n1": 57, b"n2": 3})) == 57
    assert push_pull_ltime(serf_push_pull_state(10, {})) == 9        # Serf witnesses LTime-1
    for junk in (b"", b"\x00", b"\x02\xc1", b"\x02\x91\x01", encode_intent(JoinIntent(5, "x"))):
        assert push_pull_ltime(junk) == 0


def test_after_a_restart_our_leave_intent_is_newer_than_what_serf_remembers_of_us() -> None:
    """Serf ignores an intent not newer than the one it holds for the member: a restarted
    node's clock (back at 1) learns Serf's from push/pull before it leaves."""
    core = pool_of_five()
    remote = PushPull(nodes=core.local_state(False).nodes,
                      user_state=serf_push_pull_state(12, {b"n1": 57}))
    core.merge_remote(remote, 10.0)
    ours = [i for i in decoded_users(core.leave(10.5)) if i is not None and i.node == "n1"]
    assert ours and ours[0].ltime > 57
