"""memberlist's TransmitLimitedQueue: what to piggyback on the next datagrams.

Each broadcast is about one member; a new one about the same member replaces the old (an
Alive with a higher incarnation makes a queued Suspect pointless). A broadcast is sent at
most retransmit_mult * ceil(log10(n + 1)) times. Picking order is memberlist's: fewest
transmissions first, then the largest message that still fits, then the newest.
Serf's intents about a member are queued under `intent_key(name)`: beside the member's
state broadcast, not instead of it.
"""

from __future__ import annotations

from bisect import bisect_left, insort

from minikube13.gossip.messages import PacketMessage

_LOWEST_ID = -(1 << 62)     # sorts before every real -id
_INTENT_PREFIX = "\x00serf-intent\x00"


def intent_key(name: str) -> str:
    """The queue key of a Serf intent about `name` (NUL-prefixed: no name a node would pick)."""
    return _INTENT_PREFIX + name


class _Item:
    __slots__ = ("name", "message", "size", "id", "transmits")

    def __init__(self, name: str, message: PacketMessage, size: int, id_: int) -> None:
        self.name = name
        self.message = message
        self.size = size
        self.id = id_
        self.transmits = 0

    def key(self) -> tuple[int, int, str]:
        return (-self.size, -self.id, self.name)


class BroadcastQueue:
    """Broadcasts by member name (or `intent_key`), grouped by how often each was sent."""

    def __init__(self) -> None:
        self._by_name: dict[str, _Item] = {}
        self.pending = self._by_name       # truthy while anything is queued (cheap to test)
        # transmits -> keys sorted by (largest first, newest first)
        self._levels: dict[int, list[tuple[int, int, str]]] = {}
        self._next_id = 0

    def __len__(self) -> int:
        return len(self._by_name)

    def __bool__(self) -> bool:
        return bool(self._by_name)

    def clear(self) -> None:
        self._by_name.clear()
        self._levels.clear()
        self._next_id = 0

    def message_about(self, name: str) -> PacketMessage | None:
        item = self._by_name.get(name)
        return item.message if item else None

    def queue(self, name: str, message: PacketMessage, size: int) -> None:
        """Queue a broadcast about `name`, replacing any older one about the same member."""
        old = self._by_name.pop(name, None)
        if old is not None:
            self._remove_key(old.transmits, old.key())
        if not self._by_name:
            self._next_id = 0
        self._next_id += 1
        item = _Item(name, message, size, self._next_id)
        self._by_name[name] = item
        insort(self._levels.setdefault(0, []), item.key())

    def take(self, overhead: int, limit: int, transmit_limit: int) -> list[PacketMessage]:
        """Broadcasts that fit in `limit` bytes (each costing `overhead` more), counting each
        as transmitted once more and dropping those sent transmit_limit times."""
        if not self._by_name:
            return []
        used = 0
        out: list[PacketMessage] = []
        again: list[_Item] = []
        for transmits in sorted(self._levels):
            level = self._levels[transmits]
            while level:
                free = limit - used - overhead
                if free <= 0:
                    break
                idx = bisect_left(level, (-free, _LOWEST_ID, ""))
                if idx == len(level):
                    break
                item = self._by_name[level.pop(idx)[2]]
                used += overhead + item.size
                out.append(item.message)
                if item.transmits + 1 >= transmit_limit:
                    del self._by_name[item.name]
                else:
                    item.transmits += 1
                    again.append(item)
            if not level:
                del self._levels[transmits]
            if limit - used - overhead <= 0:
                break
        for item in again:
            insort(self._levels.setdefault(item.transmits, []), item.key())
        return out

    def _remove_key(self, transmits: int, key: tuple[int, int, str]) -> None:
        level = self._levels[transmits]
        del level[bisect_left(level, key)]
        if not level:
            del self._levels[transmits]
