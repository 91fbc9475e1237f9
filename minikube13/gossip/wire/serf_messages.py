"""Serf's join and leave intents, as carried in memberlist User messages (serf messages.go).

A Serf message is one byte of Serf's messageType followed by the msgpack map of its Go
struct (go-msgpack, field names as keys, raw strings). Only the two membership intents
matter to the gossip core: a leave intent makes a later failure of its node a graceful
leave, a newer join intent cancels it. Every other Serf message is left to the layer above.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minikube13.gossip.wire import WireError
from minikube13.gossip.wire.codec import pack, unpack_one

LEAVE_TYPE = 0          # serf's messageLeaveType
JOIN_TYPE = 1           # serf's messageJoinType
PUSH_PULL_TYPE = 2      # serf's messagePushPullType (its push/pull user state)
MAX_LTIME = (1 << 64) - 1   # a Go uint64


@dataclass(frozen=True, slots=True)
class LeaveIntent:
    """messageLeave: `node` leaves gracefully; `ltime` is its Lamport time."""
    ltime: int
    node: str
    prune: bool = False          # newer Serf: also forget the node at once


@dataclass(frozen=True, slots=True)
class JoinIntent:
    """messageJoin: `node` is (back) in the pool as of Lamport time `ltime`."""
    ltime: int
    node: str


SerfIntent = LeaveIntent | JoinIntent


class LamportClock:
    """Serf's member clock: starts at 1 and moves past every time it witnesses."""
    __slots__ = ("time",)

    def __init__(self) -> None:
        self.time = 1

    def witness(self, ltime: int) -> None:
        if ltime >= self.time:
            self.time = min(ltime + 1, MAX_LTIME)     # stays encodable, whatever we heard

    def take(self) -> int:
        """The time for a message of ours; the clock then moves on (Serf's Leave)."""
        ltime = self.time
        self.time = min(ltime + 1, MAX_LTIME)
        return ltime


def encode_intent(intent: SerfIntent) -> bytes:
    """The User payload Serf would send for `intent`."""
    body: dict[bytes, Any] = {b"LTime": intent.ltime, b"Node": intent.node.encode()}
    if isinstance(intent, LeaveIntent):
        # Serf before 0.9 has no Prune field: send it only when it says something.
        if intent.prune:
            body[b"Prune"] = True
        return bytes([LEAVE_TYPE]) + pack(body)
    return bytes([JOIN_TYPE]) + pack(body)


def decode_intent(payload: bytes) -> SerfIntent | None:
    """The intent in a User payload; None for any other Serf message or malformed bytes."""
    if not payload or payload[0] > JOIN_TYPE:
        return None                  # checked first: user events must stay cheap to skip
    try:
        raw = unpack_one(payload[1:])
    except WireError:
        return None
    if not isinstance(raw, dict):
        return None
    fields = {_key(k): v for k, v in raw.items()}
    ltime, node = fields.get("LTime", 0), _text(fields.get("Node"))
    if type(ltime) is not int or not 0 <= ltime <= MAX_LTIME or not node:
        return None
    if payload[0] == JOIN_TYPE:
        return JoinIntent(ltime, node)
    prune = fields.get("Prune", False)
    return LeaveIntent(ltime, node, prune) if type(prune) is bool else None


def push_pull_ltime(payload: bytes) -> int:
    """The newest Lamport time in a Serf push/pull state: its clock (LTime, which Serf
    witnesses minus one) and the intent times it holds per member (StatusLTimes), so that
    an intent of ours made after a restart is still newer than what Serf remembers of us.
    0 for anything else."""
    if not payload or payload[0] != PUSH_PULL_TYPE:
        return 0
    try:
        raw = unpack_one(payload[1:])
    except WireError:
        return 0
    if not isinstance(raw, dict):
        return 0
    fields = {_key(k): v for k, v in raw.items()}
    times = [_ltime(fields.get("LTime")) - 1]
    statuses = fields.get("StatusLTimes")
    if isinstance(statuses, dict):
        times += [_ltime(v) for v in statuses.values()]
    return max(0, *times)


def _ltime(value: object) -> int:
    return value if type(value) is int and 0 <= value <= MAX_LTIME else 0


def _key(key: object) -> str:
    return key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else ""
