"""What one node believes about the pool, and how news changes it (memberlist's state.go).

Alive, Suspect and Dead messages (gossiped, or from a push/pull) move a member between
states under memberlist's incarnation rules: news about a member counts only if its
incarnation is at least as new as ours (Alive: strictly newer), a member accused of being
suspect or dead refutes with a higher incarnation, and every accepted change is gossiped on.
`GossipCore` adds the timing (probes, gossip rounds, push/pull) on top.

Serf's leave intents (serf.go handleNodeLeaveIntent) are honoured too: Serf gossips one
before memberlist's Dead-about-itself, and a member whose intent we saw is recorded as
left, not failed, however its death reaches us (that Dead may never arrive).
"""

from __future__ import annotations

import msgpack

from minikube13.gossip.awareness import Awareness
from minikube13.gossip.broadcasts import BroadcastQueue, intent_key
from minikube13.gossip.config import DEFAULT_VSN, GossipConfig, Rng
from minikube13.gossip.effects import ChangeKind, Effect, MemberChanged
from minikube13.gossip.members import Member, MemberTable
from minikube13.gossip.messages import (
    Alive,
    Dead,
    NodeState,
    PacketMessage,
    PushPull,
    Suspect,
    User,
)
from minikube13.gossip.sizes import encoded_size
from minikube13.gossip.suspicion import Suspicion, config_bounds
from minikube13.gossip.wire.serf_messages import (
    JoinIntent,
    LamportClock,
    LeaveIntent,
    SerfIntent,
    encode_intent,
    push_pull_ltime,
)

ALIVE, SUSPECT, DEAD, LEFT = NodeState.ALIVE, NodeState.SUSPECT, NodeState.DEAD, NodeState.LEFT
IDENTITY_TAG = "id"
TAG_MAGIC = 0xFF


def identity_of(meta: bytes) -> str:
    """The `id` tag (node key fingerprint) from Serf-encoded meta (0xFF + msgpack map), or ""."""
    if len(meta) < 2 or meta[0] != TAG_MAGIC:
        return ""
    try:
        tags = msgpack.unpackb(meta[1:], raw=True, strict_map_key=False)
    except (ValueError, msgpack.UnpackException):
        return ""
    if not isinstance(tags, dict):
        return ""
    value = tags.get(IDENTITY_TAG.encode())
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def same_identity(old_meta: bytes, new_meta: bytes) -> bool:
    """Both metas carry the same non-empty `id` tag: the same node, whatever its address."""
    old = identity_of(old_meta)
    return bool(old) and old == identity_of(new_meta)


class StateMachine:
    """The member table, the broadcast queue, suspicions and our own incarnation."""

    def __init__(self, config: GossipConfig, name: str, addr: bytes, port: int, meta: bytes,
                 rng: Rng, now: float) -> None:
        self.config = config
        self.name = name
        self._addr = addr
        self._port = port
        self._rng = rng
        self._incarnation = 1          # memberlist's setAlive starts at 1
        local = Member(name, addr, port, meta, 1, ALIVE, now, config.vsn)
        self._table = MemberTable(local)
        self._queue = BroadcastQueue()
        self._suspicions: dict[str, Suspicion] = {}
        self._awareness = Awareness(config.awareness_max_multiplier)
        self._left = False
        self._clock = LamportClock()   # Serf's, for our intents
        self._intent_ltimes: dict[str, int] = {}   # member -> newest intent's LTime
        self._leaving: set[str] = set()            # members whose leave intent we saw
        self._out: list[Effect] = []
        self.conflicts = 0             # Alives refused: a known name at a foreign address

    # hooks for the timing layer
    def _queue_started(self, now: float) -> None:
        """The broadcast queue went from empty to not empty."""

    def _on_suspicion_deadline(self, name: str, suspicion: Suspicion) -> None:
        """A suspicion's deadline was set or moved."""

    def _own_alive(self, meta: bytes) -> Alive:
        return Alive(incarnation=self._incarnation, node=self.name, addr=self._addr,
                     port=self._port, meta=meta, vsn=self.config.vsn)

    def _broadcast(self, name: str, msg: PacketMessage, now: float) -> None:
        was_empty = not self._queue
        self._queue.queue(name, msg, encoded_size(msg))
        if was_empty:
            self._queue_started(now)

    def _changed(self, member: Member, kind: ChangeKind) -> None:
        self._out.append(MemberChanged(member, kind))

    def _refute(self, me: Member, accused: int, now: float) -> None:
        """Someone thinks we are suspect, dead or elsewhere: outbid them with an Alive."""
        self._incarnation = max(self._incarnation + 1, accused + 1)
        self._table.put(me._replace(incarnation=self._incarnation))
        self._awareness.apply_delta(1)
        self._broadcast(self.name, self._own_alive(me.meta), now)

    def _reclaimable(self, known: Member, now: float) -> bool:
        """A left member, or one dead long enough, may come back from anywhere."""
        return known.state == LEFT or (known.state == DEAD and now - known.state_since
                                       >= self.config.dead_node_reclaim_time)

    def _alive(self, a: Alive, now: float, bootstrap: bool = False) -> None:
        local = a.node == self.name
        if local and self._left:
            return
        vsn = a.vsn
        if len(vsn) >= 3 and (vsn[0] == 0 or vsn[1] == 0 or vsn[0] > vsn[1]):
            return
        known = self._table.get(a.node)
        reclaim = False
        if known is not None and (known.addr != a.addr or known.port != a.port):
            reclaim = self._reclaimable(known, now)
            if not reclaim and not same_identity(known.meta, a.meta):
                self.conflicts += 1       # another node claims this name: ignore it
                return
        if known is None:
            if a.incarnation == 0:
                return
        elif local:
            if a.incarnation < known.incarnation:
                return
        elif a.incarnation <= known.incarnation and not reclaim:
            return
        self._suspicions.pop(a.node, None)
        if local and known is not None and not bootstrap:
            if (a.incarnation == known.incarnation and a.meta == known.meta
                    and tuple(a.vsn) == known.vsn and a.addr == known.addr
                    and a.port == known.port):
                return
            self._refute(known, a.incarnation, now)
            return
        self._broadcast(a.node, a, now)
        self._accept_alive(a, known, now)

    def _accept_alive(self, a: Alive, known: Member | None, now: float) -> None:
        if self._leaving:
            self._leaving.discard(a.node)      # a newer Alive: it is back
        vsn = tuple(a.vsn) if len(a.vsn) >= 6 else (known.vsn if known else DEFAULT_VSN)
        alive_since = known.state_since if known is not None and known.state == ALIVE else now
        member = Member(a.node, a.addr, a.port, a.meta, a.incarnation, ALIVE, alive_since, vsn)
        if known is None:
            self._table.add(member, self._rng)
            self._changed(member, "join")
            return
        self._table.put(member)
        if known.state >= DEAD:
            self._changed(member, "alive-again")
        elif known.meta != a.meta or known.addr != a.addr or known.port != a.port:
            self._changed(member, "update")
        elif known.state == SUSPECT and self.config.notify_suspect:
            self._changed(member, "alive")

    def _suspect(self, s: Suspect, now: float) -> None:
        known = self._table.get(s.node)
        if known is None or s.incarnation < known.incarnation:
            return
        suspicion = self._suspicions.get(s.node)
        if suspicion is not None:
            # Another accuser: shorten the timer and pass the news on.
            if suspicion.confirm(s.from_):
                self._on_suspicion_deadline(s.node, suspicion)
                self._broadcast(s.node, s, now)
            return
        if known.state != ALIVE:
            return
        if s.node == self.name:
            self._refute(known, s.incarnation, now)
            return
        self._broadcast(s.node, s, now)
        member = known._replace(incarnation=s.incarnation, state=SUSPECT, state_since=now)
        self._table.put(member)
        k, low, high = config_bounds(self.config, len(self._table))
        suspicion = Suspicion(s.from_, k, low, high, now)
        self._suspicions[s.node] = suspicion
        self._on_suspicion_deadline(s.node, suspicion)
        if self.config.notify_suspect:
            self._changed(member, "suspect")

    def _suspicion_expired(self, name: str, suspicion: Suspicion, now: float) -> None:
        member = self._table.get(name)
        if member is not None and member.state == SUSPECT \
                and member.state_since == suspicion.start:
            self._dead(Dead(incarnation=member.incarnation, node=name, from_=self.name), now)

    def _dead(self, d: Dead, now: float) -> None:
        known = self._table.get(d.node)
        if known is None or d.incarnation < known.incarnation:
            return
        self._suspicions.pop(d.node, None)
        if known.state >= DEAD:
            return
        if d.node == self.name and not self._left:
            self._refute(known, d.incarnation, now)
            return
        self._broadcast(d.node, d, now)
        state = LEFT if self._graceful(d) else DEAD
        member = known._replace(incarnation=d.incarnation, state=state, state_since=now)
        self._table.put(member)
        self._changed(member, "leave" if state == LEFT else "fail")

    def _graceful(self, d: Dead) -> bool:
        """A Dead from the member itself, or about one that announced its leave."""
        if self._leaving and d.node in self._leaving:
            self._leaving.discard(d.node)
            return True
        return d.node == d.from_

    # -- Serf intents ---------------------------------------------------------------------

    def _own_intent(self, intent: SerfIntent, now: float) -> None:
        """Gossip an intent about ourselves (remembered, so its echoes are old news)."""
        self._intent_ltimes[self.name] = intent.ltime
        self._broadcast(intent_key(self.name), User(encode_intent(intent)), now)

    def _intent(self, intent: SerfIntent, msg: User, now: float) -> None:
        """Serf's handleNodeLeaveIntent / handleNodeJoinIntent on our table: a new intent
        marks (or unmarks) its member as leaving and is gossiped on once, unchanged."""
        self._clock.witness(intent.ltime)
        name = intent.node
        known = self._table.get(name)
        if known is None or intent.ltime <= self._intent_ltimes.get(name, 0):
            return                  # about a stranger (Serf keeps those; we need not), or old
        if name == self.name:
            if isinstance(intent, LeaveIntent) and not self._left:
                self._own_intent(JoinIntent(self._clock.take(), name), now)   # refute
            return
        self._intent_ltimes[name] = intent.ltime
        if isinstance(intent, JoinIntent):
            self._leaving.discard(name)
        elif known.state == DEAD:
            self._left_after_all(known)
        elif known.state != LEFT:
            self._leaving.add(name)
        self._broadcast(intent_key(name), msg, now)

    def _left_after_all(self, known: Member) -> None:
        """Serf's forced leave: a failed member whose leave intent comes late has left."""
        member = known._replace(state=LEFT)
        self._table.put(member)
        self._changed(member, "leave")

    def _merge(self, remote: PushPull, now: float) -> None:
        """memberlist's mergeState: alive as alive, left as left, suspect *and dead* as
        suspect (we check for ourselves rather than trust a remote death)."""
        by_name, me = self._table.by_name, self.name
        if remote.user_state:         # a Serf peer's clocks: our next intent must be newer
            self._clock.witness(push_pull_ltime(remote.user_state))
        for r in self._table.news(remote.nodes):
            if r.state == ALIVE:
                known = by_name.get(r.name)
                if (known is not None and r.incarnation <= known.incarnation
                        and r.addr == known.addr and r.port == known.port and r.name != me):
                    continue        # old news: the common case, skipped cheaply
                self._alive(Alive(r.incarnation, r.name, r.addr, r.port, r.meta, r.vsn), now)
            elif r.state == LEFT:
                self._dead(Dead(incarnation=r.incarnation, node=r.name, from_=r.name), now)
            else:
                self._suspect(Suspect(incarnation=r.incarnation, node=r.name, from_=me), now)
