"""The member table: what one node believes about every member, and the probe order.

Like memberlist's `nodes` slice + `nodeMap`: members are probed round-robin in a shuffled
order; a new member goes to a random place in it (so a new node is probed soon by someone);
when the round wraps, members dead for longer than gossip_to_the_dead_time are forgotten
and the order is shuffled again. Members are immutable values, replaced on every change,
so callers may keep the ones they are given.
"""

from __future__ import annotations

import ipaddress
from bisect import insort
from collections.abc import Callable, Iterable
from itertools import compress
from operator import attrgetter, is_not, not_, or_
from typing import NamedTuple

from minikube13.gossip.config import DEFAULT_VSN, Rng
from minikube13.gossip.messages import NodeState, PushNodeState

_IP_TEXT: dict[bytes, str] = {}
_PUSH_STATES: dict[int, tuple[Member, PushNodeState]] = {}
_STATE_OF = attrgetter("state")
_IS_SUSPECT = NodeState.SUSPECT.__eq__


class Member(NamedTuple):
    name: str
    addr: bytes                 # raw IP, 4 or 16 bytes
    port: int
    meta: bytes
    incarnation: int
    state: NodeState
    state_since: float          # when `state` last changed (the caller's clock)
    vsn: tuple[int, ...] = DEFAULT_VSN

    @property
    def address(self) -> tuple[str, int]:
        return (ip_text(self.addr), self.port)

    def dead_or_left(self) -> bool:
        return self.state >= NodeState.DEAD


def ip_text(addr: bytes) -> str:
    """Raw IP bytes as text ("10.0.0.1", "fd00::1"); memoised, the probe loop asks often."""
    text = _IP_TEXT.get(addr)
    if text is None:
        if len(addr) == 4:
            text = ".".join(str(b) for b in addr)
        elif len(addr) == 16:
            text = ipaddress.IPv6Address(addr).compressed
        else:
            text = ""
        if len(_IP_TEXT) < 65536:
            _IP_TEXT[addr] = text
    return text


def ip_bytes(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def push_state(m: Member) -> PushNodeState:
    """m as a PushNodeState; memoised per Member object, which tables may share."""
    hit = _PUSH_STATES.get(id(m))
    if hit is not None and hit[0] is m:
        return hit[1]
    state = PushNodeState(name=m.name, addr=m.addr, port=m.port, meta=m.meta,
                          incarnation=m.incarnation, state=m.state, vsn=m.vsn)
    if len(_PUSH_STATES) >= 65536:
        _PUSH_STATES.clear()
    _PUSH_STATES[id(m)] = (m, state)     # holds m, so its id is not reused meanwhile
    return state


class MemberTable:
    """Members by name plus memberlist's probe order (which includes the local node)."""

    def __init__(self, local: Member) -> None:
        self.local_name = local.name
        self.by_name: dict[str, Member] = {local.name: local}
        self.order: list[str] = [local.name]
        self.sorted_names: list[str] = [local.name]    # push/pull order: see news()
        self.probe_index = 0
        self._push_all: tuple[PushNodeState, ...] | None = None

    def __len__(self) -> int:
        return len(self.order)

    def get(self, name: str) -> Member | None:
        return self.by_name.get(name)

    def put(self, member: Member) -> None:
        """Replace a known member's entry."""
        self.by_name[member.name] = member
        self._push_all = None

    def add(self, member: Member, rng: Rng) -> None:
        """A new member, placed at a random offset of the probe order."""
        n = len(self.order)
        offset = int(rng.random() * n) if n else 0
        self.order.append(member.name)
        self.order[offset], self.order[n] = self.order[n], self.order[offset]
        insort(self.sorted_names, member.name)
        self.put(member)

    def preload(self, members: Iterable[Member], rng: Rng) -> None:
        """Adopt a whole view at once (a simulation that starts converged)."""
        for m in members:
            if m.name not in self.by_name:
                self.order.append(m.name)
            self.by_name[m.name] = m
        self.sorted_names = sorted(self.by_name)
        rng.shuffle(self.order)
        self._push_all = None

    def next_probe_target(self, now: float, gossip_to_the_dead_time: float,
                          rng: Rng) -> Member | None:
        """The next member to probe (not us, not dead or left), wrapping like memberlist."""
        checked, order, by_name = 0, self.order, self.by_name
        while checked < len(order):
            if self.probe_index >= len(order):
                self.reap(now, gossip_to_the_dead_time)
                order = self.order
                rng.shuffle(order)
                self.probe_index = 0
                checked += 1
                continue
            member = by_name[order[self.probe_index]]
            self.probe_index += 1
            if member.state >= NodeState.DEAD or member.name == self.local_name:
                checked += 1
                continue
            return member
        return None

    def reap(self, now: float, gossip_to_the_dead_time: float) -> list[Member]:
        """Forget members dead or left for longer than gossip_to_the_dead_time."""
        gone = [m for m in (self.by_name[n] for n in self.order)
                if m.state >= NodeState.DEAD and now - m.state_since > gossip_to_the_dead_time
                and m.name != self.local_name]
        if gone:
            names = {m.name for m in gone}
            self.order = [n for n in self.order if n not in names]
            self.sorted_names = [n for n in self.sorted_names if n not in names]
            for m in gone:
                del self.by_name[m.name]
            self._push_all = None
        return gone

    def random_members(self, k: int, rng: Rng,
                       exclude: Callable[[Member], bool]) -> list[Member]:
        """Up to k distinct members not excluded, like memberlist's kRandomNodes."""
        n = len(self.order)
        picked: list[Member] = []
        if n < 3 * k:
            names = list(self.order)
            rng.shuffle(names)
            for name in names:
                m = self.by_name[name]
                if not exclude(m):
                    picked.append(m)
                    if len(picked) == k:
                        break
            return picked
        for _ in range(3 * n):
            if len(picked) >= k:
                break
            m = self.by_name[self.order[int(rng.random() * n)]]
            if exclude(m) or any(p.name == m.name for p in picked):
                continue
            picked.append(m)
        return picked

    def push_states(self) -> tuple[PushNodeState, ...]:
        """Every member as a PushNodeState, by name, cached until something changes."""
        if self._push_all is None:
            self._push_all = tuple(map(push_state,
                                       map(self.by_name.__getitem__, self.sorted_names)))
        return self._push_all

    def news(self, remote: tuple[PushNodeState, ...]) -> Iterable[PushNodeState]:
        """The entries of a remote push/pull worth merging: all but our very own objects.

        Merging an entry identical to ours is a no-op (suspect entries excepted: they count
        as a confirmation). Tables in one process (the simulator) share unchanged entries and
        send them in name order, so a peer with the same view sends our objects at our
        positions and they are skipped at C speed; entries decoded from the wire are never
        ours and all come back."""
        states = self.push_states()
        if len(states) == len(remote):
            differs: Iterable[bool] = map(is_not, remote, states)
        else:
            ours = set(map(id, states))
            differs = map(not_, map(ours.__contains__, map(id, remote)))
        return compress(remote, map(or_, differs, map(_IS_SUSPECT, map(_STATE_OF, remote))))
