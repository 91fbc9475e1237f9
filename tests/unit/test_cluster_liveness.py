"""Node liveness from gossip: alive or suspect members stay Ready without Lease writes
(partitioned-but-alive is not evicted), dead or left ones turn NotReady only after the grace,
and the node lifecycle controller writes status only on a change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minikube13.cluster.liveness import GossipLivenessView, MemberLiveness, decide, verdict
from minikube13.controllers.actions import DeleteObject, ObjectRef, PatchObject
from minikube13.controllers.node_lifecycle import (
    UNKNOWN_REASON,
    UNREACHABLE,
    GossipVerdict,
    NodeLifecycle,
    stamp,
)
from minikube13.controllers.object_cache import ObjectCache

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
GRACE = 40.0
NODE = ObjectRef("nodes", "", "n1")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def member(state: str, since: float = 0, name: str = "n1") -> MemberLiveness:
    return MemberLiveness(name, state, at(since))


def node_view(ready: str = "True", reason: str = "KubeletReady", beat: float = -3600,
              pods: int = 1) -> ObjectCache:
    """Node n1 whose heartbeat (and Lease) stopped an hour before T0, with pods on it."""
    cache = ObjectCache()
    cache.put("nodes", {
        "metadata": {"name": "n1", "uid": "u-n1", "creationTimestamp": stamp(at(-7200))},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": reason,
                                   "lastHeartbeatTime": stamp(at(beat))}]}})
    cache.put("leases", {"metadata": {"name": "n1", "namespace": "kube-node-lease", "uid": "l"},
                         "spec": {"renewTime": stamp(at(beat))}})
    for i in range(pods):
        cache.put("pods", {"metadata": {"name": f"p{i}", "namespace": "default", "uid": f"p{i}"},
                           "spec": {"nodeName": "n1", "containers": [{"name": "c"}]}})
    return cache


def lifecycle(view: GossipLivenessView | None) -> NodeLifecycle:
    return NodeLifecycle(grace_s=GRACE, eviction_s=300, liveness=view)


def gossip(*members: MemberLiveness) -> GossipLivenessView:
    view = GossipLivenessView()
    view.update(members)
    return view


@pytest.mark.parametrize("state", ["alive", "suspect"])
def test_alive_or_suspect_is_ready(state: str) -> None:
    """A member alive or suspect is Ready, however long ago it went suspect."""
    assert verdict(member(state, -10_000), GRACE, T0) == GossipVerdict(ready=True)


@pytest.mark.parametrize("state", ["dead", "failed", "left"])
def test_gone_is_ready_until_the_grace_then_not(state: str) -> None:
    """Dead (serf: failed) or left: still Ready until `grace` after it went, then NotReady."""
    gone = member(state, since=0)
    assert verdict(gone, GRACE, at(39)) == GossipVerdict(ready=True, until=at(40))
    assert verdict(gone, GRACE, at(40)) == GossipVerdict(ready=False)


def test_unknown_member_leaves_it_to_the_lease() -> None:
    """No member by that name: no verdict, the Lease path decides."""
    assert verdict(None, GRACE, T0) is None
    assert decide([member("alive", name="a"), member("dead", -100, name="b")],
                  ["a", "b", "c"], GRACE, T0) == {"a": True, "b": False, "c": None}


def test_partitioned_but_alive_is_not_evicted() -> None:
    """Lease stopped an hour ago but gossip says alive: no NotReady, no taint, no eviction."""
    actions = lifecycle(gossip(member("alive"))).reconcile(NODE, node_view(), T0)
    assert actions == []


def test_without_gossip_the_same_node_is_unreachable() -> None:
    """The same stale Lease with no gossip view: NotReady and evicted (the old path works)."""
    actions = lifecycle(None).reconcile(NODE, node_view(), T0)
    assert any(isinstance(a, PatchObject) and a.subresource == "status" for a in actions)


def test_dead_past_grace_turns_not_ready_and_tainted() -> None:
    """Dead for longer than the grace: Ready Unknown and the unreachable taints."""
    actions = lifecycle(gossip(member("dead", since=-41))).reconcile(
        NODE, node_view(beat=-1), T0)
    statuses = [a for a in actions if isinstance(a, PatchObject) and a.subresource == "status"]
    assert statuses and statuses[0].patch["status"]["conditions"][0]["reason"] == UNKNOWN_REASON
    taints = [a for a in actions if isinstance(a, PatchObject) and a.subresource == ""]
    assert {t["key"] for t in taints[0].patch["spec"]["taints"]} == {UNREACHABLE}
    assert not any(isinstance(a, DeleteObject) for a in actions)  # eviction comes later


def test_dead_within_grace_waits_and_asks_to_come_back_at_the_grace() -> None:
    """Dead for 10s of a 40s grace: nothing written; recheck in 30s."""
    life = lifecycle(gossip(member("dead", since=-10)))
    view = node_view(beat=-10)
    assert life.reconcile(NODE, view, T0) == []
    assert life.next_check(NODE, view, T0) == pytest.approx(30.01)


def test_alive_again_recovers_and_writes_only_on_change() -> None:
    """Back alive: one status write and the taints go; reconciling again writes nothing."""
    view = node_view(ready="Unknown", reason=UNKNOWN_REASON)
    actions = lifecycle(gossip(member("alive"))).reconcile(NODE, view, T0)
    assert [a.subresource for a in actions if isinstance(a, PatchObject)] == ["status"]
    ready = node_view()
    assert lifecycle(gossip(member("alive"))).reconcile(NODE, ready, T0) == []


def test_update_reports_only_changes_that_matter() -> None:
    """alive <-> suspect changes nothing; alive -> dead and dead -> alive do."""
    view = GossipLivenessView()
    assert view.update([member("alive"), member("alive", name="n2")]) == {"n1", "n2"}
    assert view.update([member("suspect"), member("alive", name="n2")]) == set()
    assert view.update([member("dead", 5), member("alive", name="n2")]) == {"n1"}
    assert view.update([member("dead", 5.3), member("alive", name="n2")]) == set()
    assert view.update([member("alive", 9), member("alive", name="n2")]) == {"n1"}


def test_reaped_dead_member_stays_dead() -> None:
    """memberlist forgets the dead after a while: the view keeps it gone, since unchanged."""
    view = gossip(member("dead", since=-100))
    assert view.update([]) == set()
    assert view.verdict("n1", GRACE, T0) == GossipVerdict(ready=False)
    view.forget("n1")
    assert view.verdict("n1", GRACE, T0) is None


def test_observe_one_event() -> None:
    """A single member event updates the view and says whether it matters."""
    view = GossipLivenessView()
    assert view.observe(member("alive"))
    assert not view.observe(member("suspect"))
    assert view.observe(member("failed", 3))
    assert view.members()["n1"].state == "failed"


def test_left_member_evicted_after_grace_and_timeout() -> None:
    """A member that left: NotReady after the grace, pods deleted after the eviction timeout."""
    cache: Any = node_view()
    node = cache.get(NODE.key)
    node["spec"]["taints"] = [{"key": UNREACHABLE, "effect": e, "timeAdded": stamp(at(-301))}
                              for e in ("NoSchedule", "NoExecute")]
    node["status"]["conditions"][0].update(status="Unknown", reason=UNKNOWN_REASON)
    cache.put("nodes", node)
    actions = lifecycle(gossip(member("left", since=-400))).reconcile(NODE, cache, T0)
    assert [a.ref.name for a in actions if isinstance(a, DeleteObject)] == ["p0"]
