"""Gossip settings, the named profiles, and the formulas memberlist derives from them.

Durations are seconds (floats). `GossipConfig()` is memberlist's DefaultLANConfig; the formulas
follow memberlist's util.go. Timing is a member's own business (the wire format does not carry
it), so our nodes may probe faster than the Serf agents they share a pool with: `PROFILES`
names the choices, and "fast" is the daemon's default.
"""

from __future__ import annotations

import math
from collections.abc import MutableSequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

# memberlist's protocol range and the delegate (Serf) range we claim:
# [proto min, proto max, proto cur, delegate min, delegate max, delegate cur].
DEFAULT_VSN: tuple[int, ...] = (1, 5, 2, 2, 5, 4)
PUSH_PULL_SCALE_THRESHOLD = 32     # memberlist's pushPullScaleThreshold
COMPOUND_HEADER_OVERHEAD = 2       # type byte + count byte
COMPOUND_OVERHEAD = 2              # uint16 length per compounded message


class Rng(Protocol):
    """What the core needs from a seeded `random.Random` (passed in, never made here)."""

    def random(self) -> float: ...

    def shuffle(self, x: MutableSequence[Any]) -> None: ...


@dataclass(frozen=True)
class GossipConfig:
    """memberlist's LAN defaults; field names are memberlist's in snake_case."""

    probe_interval: float = 1.0
    probe_timeout: float = 0.5
    gossip_interval: float = 0.2
    gossip_nodes: int = 3
    indirect_checks: int = 3
    retransmit_mult: int = 4
    suspicion_mult: int = 4
    suspicion_max_timeout_mult: int = 6
    awareness_max_multiplier: int = 8
    push_pull_interval: float = 30.0
    gossip_to_the_dead_time: float = 30.0
    # How long a dead member keeps its address against an Alive from elsewhere; a left
    # member, or a dead one past this, may come back at a new address (0: at once).
    dead_node_reclaim_time: float = 0.0
    disable_tcp_pings: bool = False
    udp_buffer_size: int = 1400
    # Bytes the shell adds to each datagram (label header, encryption): less room to piggyback.
    packet_overhead: int = 0
    vsn: tuple[int, ...] = DEFAULT_VSN
    # Also report "suspect" and "alive" (a refuted suspicion) as MemberChanged; memberlist's
    # delegates see neither, the simulator measures with them.
    notify_suspect: bool = False
    # Our addition: the shortest suspicion timeout, whatever the pool size (memberlist: none).
    suspicion_min_floor: float = 0.0


# "fast": a dead member is dead to all of 2,000 within 5 s (memberlist's LAN defaults take
# 16 s): probes 5x as often, with a 100 ms ack budget, so for links with RTT well under that.
# Five helpers instead of three make a false suspicion under 5% loss ~30x rarer, and the
# floor keeps a small pool from declaring a member dead after one second of silence.
# "lan" and "wan" are memberlist's DefaultLANConfig and DefaultWANConfig.
PROFILES: dict[str, GossipConfig] = {
    "fast": GossipConfig(probe_interval=0.2, probe_timeout=0.1, indirect_checks=5,
                         suspicion_min_floor=2.0),
    "lan": GossipConfig(),
    "wan": GossipConfig(probe_interval=5.0, probe_timeout=3.0, suspicion_mult=6,
                        gossip_interval=0.5, gossip_nodes=4, push_pull_interval=60.0,
                        gossip_to_the_dead_time=60.0),
}
DEFAULT_PROFILE = "fast"


def profile(name: str, **overrides: Any) -> GossipConfig:
    """The named profile's settings (KeyError for an unknown name), with overrides."""
    return replace(PROFILES[name], **overrides)


def suspicion_timeout(suspicion_mult: int, n: int, interval: float) -> float:
    """The minimum suspicion timeout: mult * max(1, log10(max(1, n))) * interval (ms precision)."""
    node_scale = max(1.0, math.log10(max(1.0, float(n))))
    return suspicion_mult * int(node_scale * 1000) * interval / 1000


def retransmit_limit(retransmit_mult: int, n: int) -> int:
    """How many times a broadcast is sent: mult * ceil(log10(n + 1))."""
    return retransmit_mult * int(math.ceil(math.log10(n + 1)))


def push_pull_scale(interval: float, n: int) -> float:
    """The push/pull interval grows with log2 of the cluster past 32 members."""
    if n <= PUSH_PULL_SCALE_THRESHOLD:
        return interval
    multiplier = math.ceil(math.log2(n) - math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1.0
    return multiplier * interval
