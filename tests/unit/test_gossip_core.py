"""The gossip core's membership rules: incarnations, refutation, dead/left, identity, merge."""

from __future__ import annotations

from gossip_core_support import (
    CONFIG,
    PORT,
    addr,
    alive,
    changes,
    deliver,
    ip,
    meta,
    new_core,
    run_until,
    sent_of,
    with_members,
)

from minikube13.gossip.config import GossipConfig
from minikube13.gossip.effects import Deliver, PushPullTo
from minikube13.gossip.messages import (
    Ack,
    Alive,
    Dead,
    NodeState,
    Ping,
    PushNodeState,
    PushPull,
    Suspect,
    User,
)


def state(core, name):  # type: ignore[no-untyped-def]
    member = core.member(name)
    return None if member is None else (member.state, member.incarnation)


def test_a_new_member_joins_and_is_gossiped_on() -> None:
    """An Alive about an unknown node adds it as alive and passes the news on."""
    core = with_members(new_core(), 3)
    effects = deliver(core, alive(9))
    assert changes(effects) == [("n9", "join")]
    assert state(core, "n9") == (NodeState.ALIVE, 1)
    gossip, _ = run_until(core, 1.0)
    assert any(m.node == "n9" for _, m in sent_of(gossip, Alive))


def test_old_or_equal_incarnations_change_nothing() -> None:
    """Alive news must be strictly newer; suspect/dead news at least as new."""
    core = new_core()
    deliver(core, alive(2, incarnation=5))
    assert changes(deliver(core, alive(2, incarnation=5, role="x"))) == []
    assert changes(deliver(core, alive(2, incarnation=4))) == []
    deliver(core, Suspect(incarnation=4, node="n2", from_="n3"))
    deliver(core, Dead(incarnation=4, node="n2", from_="n3"))
    assert state(core, "n2") == (NodeState.ALIVE, 5)
    assert changes(deliver(core, alive(2, incarnation=6, role="x"))) == [("n2", "update")]


def test_suspect_then_alive_with_a_higher_incarnation_clears_it() -> None:
    core = with_members(new_core(), 4)
    assert changes(deliver(core, Suspect(incarnation=1, node="n2", from_="n3"))) == \
        [("n2", "suspect")]
    assert state(core, "n2") == (NodeState.SUSPECT, 1)
    assert changes(deliver(core, alive(2, incarnation=1))) == []
    assert changes(deliver(core, alive(2, incarnation=2))) == [("n2", "alive")]
    assert state(core, "n2") == (NodeState.ALIVE, 2)


def test_dead_and_left() -> None:
    """A Dead from another member means failed; from the member itself, it left."""
    core = with_members(new_core(), 4)
    assert changes(deliver(core, Dead(incarnation=1, node="n2", from_="n3"))) == \
        [("n2", "fail")]
    assert changes(deliver(core, Dead(incarnation=1, node="n3", from_="n3"))) == \
        [("n3", "leave")]
    assert state(core, "n2") == (NodeState.DEAD, 1)
    assert state(core, "n3") == (NodeState.LEFT, 1)
    # Dead news about a dead member is old news; an Alive with a new incarnation revives it.
    assert changes(deliver(core, Dead(incarnation=2, node="n2", from_="n4"))) == []
    assert changes(deliver(core, alive(2, incarnation=2))) == [("n2", "alive-again")]


def test_a_suspicion_about_ourselves_is_refuted() -> None:
    """We outbid the accusation with a higher incarnation and gossip it; health worsens."""
    core = with_members(new_core(), 4)
    assert changes(deliver(core, Suspect(incarnation=7, node="n1", from_="n2"))) == []
    me = core.member("n1")
    assert me is not None and me.state == NodeState.ALIVE and me.incarnation == 8
    assert core.health_score() == 1
    gossip, _ = run_until(core, 0.5)
    refutes = [m for _, m in sent_of(gossip, Alive) if m.node == "n1"]
    assert refutes and all(m.incarnation == 8 for m in refutes)


def test_death_and_stale_alive_about_ourselves_are_refuted() -> None:
    core = with_members(new_core(), 4)
    deliver(core, Dead(incarnation=3, node="n1", from_="n2"))
    assert state(core, "n1") == (NodeState.ALIVE, 4)
    deliver(core, Alive(incarnation=4, node="n1", addr=ip(1), port=PORT, meta=b"other"))
    assert state(core, "n1") == (NodeState.ALIVE, 5)
    deliver(core, alive(1, incarnation=2))          # older: nothing to refute
    assert state(core, "n1") == (NodeState.ALIVE, 5)


def test_leave_announces_a_dead_from_ourselves() -> None:
    core = with_members(new_core(), 4)
    effects = core.leave(1.0)
    assert changes(effects) == [("n1", "leave")]
    dead = [m for _, m in sent_of(effects, Dead)]
    assert dead and dead[0].node == dead[0].from_ == "n1"
    assert state(core, "n1") == (NodeState.LEFT, 1)
    deliver(core, alive(1, incarnation=9), now=2.0)      # no rejoining behind our back
    assert state(core, "n1") == (NodeState.LEFT, 1)


def test_address_change_with_the_same_identity_is_accepted() -> None:
    """A node whose address changed (DHCP) keeps its name when its `id` tag matches."""
    core = new_core()
    deliver(core, alive(2, incarnation=3, identity="key-a"))
    effects = deliver(core, alive(2, incarnation=4, identity="key-a", at=50))
    assert changes(effects) == [("n2", "update")]
    member = core.member("n2")
    assert member is not None and member.addr == ip(50) and member.address == addr(50)


def test_address_change_with_another_identity_is_a_conflict() -> None:
    core = new_core()
    deliver(core, alive(2, incarnation=3, identity="key-a"))
    assert changes(deliver(core, alive(2, incarnation=9, identity="key-b", at=50))) == []
    assert changes(deliver(core, alive(2, incarnation=9, at=51))) == []    # no id at all
    member = core.member("n2")
    assert member is not None and member.addr == ip(2) and core.conflicts == 2


def test_a_dead_or_left_member_may_come_back_at_a_new_address() -> None:
    """As memberlist: reclaiming a dead/left name ignores the incarnation (it restarted)."""
    core = with_members(new_core(), 3)
    deliver(core, Dead(incarnation=1, node="n2", from_="n3"))
    deliver(core, Dead(incarnation=1, node="n3", from_="n3"))
    assert changes(deliver(core, alive(2, incarnation=1, at=60))) == [("n2", "alive-again")]
    assert changes(deliver(core, alive(3, incarnation=1, at=61))) == [("n3", "alive-again")]
    assert core.member("n2").addr == ip(60)  # type: ignore[union-attr]


def test_dead_reclaim_waits_for_dead_node_reclaim_time() -> None:
    core = with_members(new_core(config=GossipConfig(dead_node_reclaim_time=60.0)), 3)
    deliver(core, Dead(incarnation=1, node="n2", from_="n3"), now=10.0)
    assert changes(deliver(core, alive(2, incarnation=2, at=60), now=20.0)) == []
    assert changes(deliver(core, alive(2, incarnation=2, at=60), now=71.0)) == \
        [("n2", "alive-again")]


def test_push_pull_merge() -> None:
    """Remote alive -> alive, left -> left, suspect and dead -> only suspect (we check)."""
    core = with_members(new_core(), 3)

    def entry(i: int, st: NodeState, inc: int = 1) -> PushNodeState:
        return PushNodeState(name=f"n{i}", addr=ip(i), port=PORT, meta=b"",
                             incarnation=inc, state=st)

    remote = PushPull(nodes=(entry(2, NodeState.DEAD), entry(3, NodeState.SUSPECT),
                             entry(4, NodeState.LEFT), entry(7, NodeState.ALIVE, 3)))
    effects = core.merge_remote(remote, 1.0)
    assert sorted(changes(effects)) == [("n2", "suspect"), ("n3", "suspect"),
                                        ("n4", "leave"), ("n7", "join")]
    assert state(core, "n2") == (NodeState.SUSPECT, 1)
    assert state(core, "n7") == (NodeState.ALIVE, 3)


def test_push_pull_answers_with_our_state_before_merging() -> None:
    core = with_members(new_core(), 2)
    remote = PushPull(nodes=(PushNodeState(name="n9", addr=ip(9), port=PORT, meta=b"",
                                           incarnation=1, state=NodeState.ALIVE),), join=True)
    reply, effects = core.receive_stream(remote, addr(9), 1.0)
    assert isinstance(reply, PushPull) and reply.join
    assert sorted(n.name for n in reply.nodes) == ["n1", "n2", "n3"]
    assert changes(effects) == [("n9", "join")]
    assert sorted(n.name for n in core.local_state(False).nodes) == ["n1", "n2", "n3", "n9"]


def test_join_pushes_and_pulls_with_each_address() -> None:
    core = new_core()
    effects = core.join([addr(2), addr(3)], 0.0)
    assert [e.addr for e in effects if isinstance(e, PushPullTo)] == [addr(2), addr(3)]
    assert all(e.state.join and e.state.nodes[0].name == "n1"
               for e in effects if isinstance(e, PushPullTo))


def test_stream_ping_user_and_pings_for_someone_else() -> None:
    core = new_core()
    assert core.receive_stream(Ping(seq_no=5, node="n1"), addr(2), 0.0) == (Ack(seq_no=5), [])
    assert core.receive_stream(Ping(seq_no=5, node="n8"), addr(2), 0.0) == (None, [])
    user = User(payload=b"serf")
    assert core.receive_stream(user, addr(2), 0.0) == (None, [Deliver(user, addr(2))])
    assert deliver(core, user) == [Deliver(user, addr(99))]
    assert deliver(core, Ping(seq_no=1, node="n8")) == []


def test_update_meta_bumps_the_incarnation_and_gossips() -> None:
    core = with_members(new_core(), 3)
    effects = core.update_meta(meta(role="server"), 1.0)
    assert changes(effects) == [("n1", "update")]
    assert state(core, "n1") == (NodeState.ALIVE, 2)
    gossip, _ = run_until(core, 1.5, 1.0)
    assert any(m.node == "n1" and m.incarnation == 2 and m.meta == meta(role="server")
               for _, m in sent_of(gossip, Alive))


def test_members_lists_everyone_including_us() -> None:
    core = with_members(new_core(), 3)
    assert [m.name for m in core.members()] == ["n1", "n2", "n3", "n4"]
    assert CONFIG.notify_suspect
