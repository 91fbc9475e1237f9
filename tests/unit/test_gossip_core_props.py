"""Properties of the gossip core, checked against a small reference model (Hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass

from gossip_core_support import alive, deliver, new_core, run_until
from hypothesis import given, settings
from hypothesis import strategies as st

from minikube13.gossip.broadcasts import BroadcastQueue
from minikube13.gossip.config import retransmit_limit
from minikube13.gossip.messages import Alive, Dead, NodeState, Suspect
from minikube13.gossip.sizes import encoded_size

OTHERS = ["n2", "n3", "n4"]


@st.composite
def news(draw: st.DrawFn) -> Alive | Suspect | Dead:
    node = draw(st.sampled_from(["n1", *OTHERS]))
    inc = draw(st.integers(min_value=0, max_value=6))
    kind = draw(st.sampled_from(["alive", "suspect", "dead"]))
    sender = draw(st.sampled_from(["n2", "n3", "n9", node]))
    if kind == "alive":
        return alive(int(node[1:]), incarnation=inc, role=draw(st.sampled_from(["a", "b"])))
    if kind == "suspect":
        return Suspect(incarnation=inc, node=node, from_=sender)
    return Dead(incarnation=inc, node=node, from_=sender)


@dataclass
class Model:
    """memberlist's rules for other members, without timers (no time passes)."""
    state: NodeState
    incarnation: int

    def apply(self, msg: Alive | Suspect | Dead) -> None:
        if isinstance(msg, Alive):
            if msg.incarnation > self.incarnation:
                self.state, self.incarnation = NodeState.ALIVE, msg.incarnation
        elif isinstance(msg, Suspect):
            if msg.incarnation >= self.incarnation and self.state == NodeState.ALIVE:
                self.state, self.incarnation = NodeState.SUSPECT, msg.incarnation
        elif msg.incarnation >= self.incarnation and self.state < NodeState.DEAD:
            self.incarnation = msg.incarnation
            self.state = NodeState.LEFT if msg.from_ == msg.node else NodeState.DEAD


@settings(max_examples=200, deadline=None)
@given(st.lists(news(), max_size=40))
def test_members_follow_the_incarnation_rules(messages: list[Alive | Suspect | Dead]) -> None:
    """Other members move exactly as the model says; we stay alive and outbid accusers."""
    core = new_core()
    model: dict[str, Model] = {}
    highest_accusation = 0
    for msg in messages:
        deliver(core, msg)
        if msg.node == "n1":
            if not isinstance(msg, Alive):
                highest_accusation = max(highest_accusation, msg.incarnation)
        elif msg.node in model:
            model[msg.node].apply(msg)
        elif isinstance(msg, Alive) and msg.incarnation > 0:
            model[msg.node] = Model(NodeState.ALIVE, msg.incarnation)
        me = core.member("n1")
        assert me is not None and me.state == NodeState.ALIVE
        assert me.incarnation > highest_accusation or highest_accusation == 0
        for name in OTHERS:
            member = core.member(name)
            expected = model.get(name)
            got = None if member is None else Model(member.state, member.incarnation)
            assert got == expected


@settings(max_examples=50, deadline=None)
@given(st.lists(news(), max_size=25), st.integers(min_value=0, max_value=2**32))
def test_same_seed_same_effects(messages: list[Alive | Suspect | Dead], seed: int) -> None:
    """Two cores with the same seed and the same inputs decide exactly the same."""
    def trace() -> list[str]:
        core = new_core(seed=seed)
        out = [repr(deliver(core, m, now=0.1 * i)) for i, m in enumerate(messages)]
        effects, _ = run_until(core, 30.0, 0.1 * len(messages))
        return out + [repr(effects)]
    assert trace() == trace()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["q", "t"]), st.integers(0, 5),
                          st.integers(0, 3), st.integers(60, 600)), max_size=60),
       st.integers(min_value=1, max_value=5000))
def test_broadcast_queue_limits(ops: list[tuple[str, int, int, int]], members: int) -> None:
    """No broadcast goes out more than retransmit_mult*ceil(log10(n+1)) times, a take fits its
    byte budget, and only the newest message about a member is ever sent."""
    queue = BroadcastQueue()
    limit = retransmit_limit(4, members)
    newest: dict[str, Suspect] = {}
    sends: dict[Suspect, int] = {}
    for op, who, inc, budget in ops:
        name = f"n{who}"
        if op == "q":
            msg = Suspect(incarnation=len(sends) + inc, node=name, from_="x")
            newest[name] = msg
            sends.setdefault(msg, 0)
            queue.queue(name, msg, encoded_size(msg))
            continue
        taken = queue.take(2, budget, limit)
        assert sum(encoded_size(m) + 2 for m in taken) <= budget
        assert len({m.node for m in taken}) == len(taken)    # type: ignore[union-attr]
        for m in taken:
            assert isinstance(m, Suspect) and newest[m.node] == m
            sends[m] += 1
            assert sends[m] <= limit
