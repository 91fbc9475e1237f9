"""Probing: direct and indirect pings, nacks and health, the TCP fallback, the buddy system,
suspicion timeouts with confirmations, gossip to the recently dead and reaping."""

from __future__ import annotations

from gossip_core_support import (
    addr,
    changes,
    deliver,
    new_core,
    run_answering,
    run_until,
    sent,
    sent_of,
    with_members,
)

from minikube13.gossip.config import GossipConfig
from minikube13.gossip.core import GossipCore
from minikube13.gossip.effects import Effect, SendPacket, StreamPing
from minikube13.gossip.messages import (
    Ack,
    Dead,
    IndirectPing,
    Nack,
    NodeState,
    Ping,
    Suspect,
)
from minikube13.gossip.suspicion import Suspicion, suspicion_bounds, suspicion_duration


def first_probe(core: GossipCore) -> tuple[float, Ping, tuple[str, int]]:
    """Tick until the core sends its first Ping; its time, the ping and the target."""
    now = 0.0
    while True:
        now = core.next_wakeup()
        pings = sent_of(core.tick(now), Ping)
        if pings:
            where, ping = pings[0]
            assert isinstance(ping, Ping)
            return now, ping, where


def test_an_acked_probe_suspects_nobody() -> None:
    core = with_members(new_core(), 5)
    now, ping, where = first_probe(core)
    assert ping.source_node == "n1" and where == core.member(ping.node).address  # type: ignore[union-attr]
    deliver(core, Ack(seq_no=ping.seq_no), now=now + 0.01)
    effects, _ = run_until(core, now + 0.99, now)
    assert not sent_of(effects, IndirectPing) and not sent_of(effects, Suspect)
    assert core.member(ping.node).state == NodeState.ALIVE  # type: ignore[union-attr]
    assert core.health_score() == 0


def probe_without_answer(core: GossipCore, nacks: int = 0) -> tuple[Ping, list[Effect]]:
    now, ping, _ = first_probe(core)
    indirect: list[Effect] = []
    while not sent_of(indirect, IndirectPing):
        now = core.next_wakeup()
        indirect = core.tick(now)
    for _ in range(nacks):
        deliver(core, Nack(seq_no=ping.seq_no), now=now + 0.1)
    rest, _ = run_until(core, now + 0.5, now)
    return ping, indirect + rest


def test_no_ack_asks_three_helpers_tries_tcp_and_then_suspects() -> None:
    """After probe_timeout: 3 indirect pings (asking for nacks) and a TCP ping; after the
    probe interval without any ack the target is suspect and our health drops by the
    nacks that did not come."""
    core = with_members(new_core(), 6)
    ping, effects = probe_without_answer(core)
    indirect = sent_of(effects, IndirectPing)
    assert len(indirect) == 3 and all(m.nack and m.node == ping.node for _, m in indirect)
    assert ping.node not in {a for a, _ in indirect}
    streams = [e for e in effects if isinstance(e, StreamPing)]
    assert [s.ping.seq_no for s in streams] == [ping.seq_no]
    assert (ping.node, "suspect") in changes(effects)
    assert core.health_score() == 3


def test_nacks_show_the_helpers_are_fine_so_health_stays() -> None:
    core = with_members(new_core(), 6)
    ping, effects = probe_without_answer(core, nacks=3)
    assert (ping.node, "suspect") in changes(effects)
    assert core.health_score() == 0


def test_an_indirect_or_tcp_ack_saves_the_target() -> None:
    core = with_members(new_core(), 6)
    now, ping, _ = first_probe(core)
    effects, now = run_until(core, now + 0.6, now)
    assert sent_of(effects, IndirectPing)
    deliver(core, Ack(seq_no=ping.seq_no), now=now + 0.1)     # via a helper or TCP
    effects, _ = run_until(core, now + 2.0, now)
    assert (ping.node, "suspect") not in changes(effects)
    assert core.member(ping.node).state == NodeState.ALIVE  # type: ignore[union-attr]


def test_health_scales_the_probe_deadline() -> None:
    """With health score 3, a failed probe waits 4 probe intervals before suspecting."""
    core = with_members(new_core(), 6)
    deliver(core, Suspect(incarnation=1, node="n1", from_="n2"))   # refute: +1
    core._awareness.apply_delta(2)       # noqa: SLF001  (as after two missed nacks)
    assert core.health_score() == 3
    start, ping, _ = first_probe(core)
    effects, _ = run_until(core, start + 3.9, start)
    assert (ping.node, "suspect") not in changes(effects)
    effects, _ = run_until(core, start + 4.01, start + 3.9)
    assert (ping.node, "suspect") in changes(effects)


def test_probing_a_suspect_carries_the_suspicion_buddy_system() -> None:
    core = with_members(new_core(), 1)          # only n2 to probe
    deliver(core, Suspect(incarnation=1, node="n2", from_="n3"))
    probe: list[SendPacket] = []
    while not probe:
        now = core.next_wakeup()
        probe = [e for e in core.tick(now)
                 if isinstance(e, SendPacket) and isinstance(e.messages[0], Ping)]
    assert [type(m) for m in probe[0].messages] == [Ping, Suspect]
    assert probe[0].messages[1] == Suspect(incarnation=1, node="n2", from_="n1")


def test_we_probe_for_others_and_nack_when_the_target_is_silent() -> None:
    core = with_members(new_core(), 3)
    req = IndirectPing(seq_no=77, target=bytes((10, 0, 0, 3)), port=7946, node="n3",
                       nack=True, source_addr=bytes((10, 0, 0, 2)), source_port=7946,
                       source_node="n2")
    pings = sent_of(deliver(core, req, now=1.0), Ping)
    assert [(a, p.node) for a, p in pings] == [(addr(3), "n3")]
    effects, _ = run_until(core, 1.6, 1.0)
    assert [(a, m.seq_no) for a, m in sent_of(effects, Nack)] == [(addr(2), 77)]
    # A second request answered in time: the ack goes back with the requester's number.
    pings = sent_of(deliver(core, req, now=2.0), Ping)
    acks = sent_of(deliver(core, Ack(seq_no=pings[0][1].seq_no), now=2.1), Ack)
    assert [(a, m.seq_no) for a, m in acks] == [(addr(2), 77)]


def test_ping_is_answered_at_its_source_address() -> None:
    core = new_core()
    effects = deliver(core, Ping(seq_no=3, node="n1", source_addr=bytes((10, 0, 0, 5)),
                                 source_port=8000, source_node="n5"))
    assert sent_of(effects, Ack) == [(("10.0.0.5", 8000), Ack(seq_no=3))]
    # Our own Alive (queued at start) rides along: piggybacked gossip.
    assert [type(m).__name__ for _, m in sent(effects)] == ["Ack", "Alive"]
    assert sent_of(deliver(core, Ping(seq_no=4, node="n1"), sender=6), Ack) == \
        [(addr(6), Ack(4))]


def test_suspicion_bounds_follow_memberlist() -> None:
    assert suspicion_bounds(4, 6, 2000, 1.0) == (2, 13.204, 79.224)
    assert suspicion_bounds(4, 6, 3, 1.0) == (0, 4.0, 24.0)   # too few to confirm
    assert suspicion_duration(0, 2, 10.0, 60.0) == 60.0
    assert suspicion_duration(1, 2, 10.0, 60.0) == 28.453
    assert suspicion_duration(2, 2, 10.0, 60.0) == 10.0


def test_confirmations_shorten_the_timer_once_per_accuser() -> None:
    s = Suspicion("a", 2, 10.0, 60.0, start=100.0)
    assert s.deadline == 160.0
    assert not s.confirm("a")               # the first accuser does not confirm
    assert s.confirm("b") and s.deadline == 128.453
    assert not s.confirm("b")
    assert s.confirm("c") and s.deadline == 110.0
    assert not s.confirm("d")               # k reached


def test_a_suspect_dies_after_the_timeout_unless_refuted() -> None:
    """n=5: k=2, min=4*max(1, log10 5)=4 s, max=24 s; two confirmations reach the minimum."""
    cfg = GossipConfig(notify_suspect=True, push_pull_interval=0)
    core = with_members(new_core(config=cfg), 4)
    run_answering(core, 10.0)
    deliver(core, Suspect(incarnation=1, node="n2", from_="n3"), now=10.0)
    deliver(core, Suspect(incarnation=1, node="n2", from_="n4"), now=10.5)
    deliver(core, Suspect(incarnation=1, node="n2", from_="n5"), now=11.0)
    assert core.member("n2").state == NodeState.SUSPECT  # type: ignore[union-attr]
    effects, _ = run_answering(core, 13.99, 11.0)
    assert ("n2", "fail") not in changes(effects)
    effects, _ = run_answering(core, 14.01, 13.99)
    assert ("n2", "fail") in changes(effects)
    effects, _ = run_answering(core, 14.5, 14.01)
    dead = [m for _, m in sent_of(effects, Dead) if m.node == "n2"]
    assert dead and dead[0].from_ == "n1"


def test_the_recently_dead_still_get_gossip_then_are_forgotten() -> None:
    cfg = GossipConfig(notify_suspect=True, push_pull_interval=0)
    core = with_members(new_core(config=cfg), 2)
    deliver(core, Dead(incarnation=1, node="n2", from_="n3"), now=0.0)
    effects, now = run_answering(core, 5.0)
    assert any(a == addr(2) for a, _ in sent(effects))          # gossip to the dead
    _, now = run_answering(core, 35.0, now)
    assert core.member("n2") is None                              # reaped after 30 s
    deliver(core, Suspect(incarnation=1, node="n3", from_="n9"), now=now)
    effects, now = run_answering(core, 40.0, now)
    assert sent_of(effects, Suspect) and all(a == addr(3) for a, _ in sent(effects))


def test_the_next_grid_time_is_always_in_the_future() -> None:
    """Float rounding once put the next gossip round at `now` itself: a busy loop."""
    from minikube13.gossip.core import _next_grid
    assert _next_grid(0.6495461355254983, 0.2, 0.8495461355254983) > 0.8495461355254983
    assert _next_grid(5.0, 1.0, 1.0) == 5.0
    assert _next_grid(0.5, 1.0, 2.5) == 3.5
