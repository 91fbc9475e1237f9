"""Node liveness from gossip (pure): the server's view of the pool -> Ready or NotReady.

A member alive or suspect is Ready, whatever its Lease says: an agent cut off from the
servers' store but alive to its peers keeps its Node Ready and its pods. A member dead
(serf: failed) or left is still Ready until `grace` has passed since it went, then
NotReady (the node lifecycle controller sets Unknown and the unreachable taints, and
evicts after the eviction timeout). A node gossip does not know falls back to its Lease.

`GossipLivenessView` holds the latest view for `NodeLifecycle(liveness=...)`; `update`
returns the node names whose verdict may have changed, to queue for the controller, so
node status is written only when something changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from minikube13.controllers.node_lifecycle import GossipVerdict

ALIVE_STATES = frozenset({"alive", "suspect"})
GONE_STATES = frozenset({"dead", "failed", "left"})  # memberlist's dead is serf's failed


@dataclass(frozen=True)
class MemberLiveness:
    """One member as this server's gossip sees it; `since` is when it entered `state`."""

    name: str
    state: str  # alive | suspect | dead (failed) | left
    since: datetime

    @property
    def gone(self) -> bool:
        return self.state in GONE_STATES


def verdict(member: MemberLiveness | None, grace_s: float,
            now: datetime) -> GossipVerdict | None:
    """Ready / NotReady for one node; None when gossip has nothing to say of it."""
    if member is None:
        return None
    if member.state in ALIVE_STATES:
        return GossipVerdict(ready=True)
    if member.gone:
        deadline = member.since + timedelta(seconds=grace_s)
        return GossipVerdict(ready=True, until=deadline) if now < deadline \
            else GossipVerdict(ready=False)
    return None


def decide(members: Iterable[MemberLiveness], node_names: Iterable[str], grace_s: float,
           now: datetime) -> dict[str, bool | None]:
    """Per Node: True (Ready), False (NotReady) or None (gossip does not know it)."""
    by_name = {m.name: m for m in members}
    out: dict[str, bool | None] = {}
    for name in node_names:
        found = verdict(by_name.get(name), grace_s, now)
        out[name] = None if found is None else found.ready
    return out


def _matters(member: MemberLiveness | None) -> tuple[bool, datetime | None] | None:
    """What of a member can change a verdict: alive-or-not, and since when it is gone
    (alive <-> suspect changes nothing)."""
    if member is None or (member.state not in ALIVE_STATES and not member.gone):
        return None
    return (member.gone, member.since if member.gone else None)


class GossipLivenessView:
    """The latest gossip view, as `NodeLifecycle.liveness`. A member that vanishes from the
    pool while gone (memberlist reaps the dead) stays gone here, so reaping does not flip a
    NotReady node back to its Lease."""

    def __init__(self) -> None:
        self._members: dict[str, MemberLiveness] = {}

    def verdict(self, node: str, grace_s: float, now: datetime) -> GossipVerdict | None:
        return verdict(self._members.get(node), grace_s, now)

    def members(self) -> Mapping[str, MemberLiveness]:
        return dict(self._members)

    def update(self, members: Iterable[MemberLiveness]) -> set[str]:
        """Take a whole new view; the names whose verdict may have changed."""
        new = {m.name: m for m in members}
        for name, old in self._members.items():
            # still gone (or reaped while gone): keep the first `since`, so a view rebuilt
            # from a monotonic clock with a little jitter does not count as a change
            if old.gone and (name not in new or new[name].gone):
                new[name] = replace(new.get(name, old), since=old.since)
        changed = {name for name in new.keys() | self._members.keys()
                   if _matters(new.get(name)) != _matters(self._members.get(name))}
        self._members = new
        return changed

    def observe(self, member: MemberLiveness) -> bool:
        """One member's change (a gossip event); True when its verdict may have changed."""
        old = self._members.get(member.name)
        self._members[member.name] = member
        return _matters(old) != _matters(member)

    def forget(self, name: str) -> None:
        """Drop a member (say, its Node was deleted)."""
        self._members.pop(name, None)
