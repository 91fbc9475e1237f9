"""Lifeguard's local health: the awareness score, and one probe's bookkeeping.

A node that cannot keep up (slow CPU, lost packets on its own link) should not accuse others.
Its health score (0 = healthy .. max-1) grows when its probes fail without the nacks that
healthy helpers would send, when it must refute a suspicion about itself, and shrinks with
each successful probe; the probe deadline is scaled by score + 1, so an unhealthy node waits
longer (and lets the TCP fallback and indirect acks arrive) before it suspects anyone.
"""

from __future__ import annotations

from dataclasses import dataclass

from minikube13.gossip.messages import Ping, Suspect

NACK_MIN_PROTOCOL = 4        # peers whose protocol max is at least this send nacks
TCP_PING_MIN_PROTOCOL = 3    # peers whose protocol max is at least this answer a TCP ping


class Awareness:
    """memberlist's awareness.go: a bounded score that scales timeouts."""

    __slots__ = ("max", "score")

    def __init__(self, max_multiplier: int) -> None:
        self.max = max_multiplier
        self.score = 0

    def apply_delta(self, delta: int) -> None:
        self.score = min(max(self.score + delta, 0), self.max - 1)

    def scale(self, timeout: float) -> float:
        return timeout * (self.score + 1)


@dataclass(slots=True)
class Probe:
    """One probe of one member: direct ping, then indirect pings + TCP, then the verdict."""
    seq: int
    target: str
    addr: tuple[str, int]
    raw_addr: bytes
    incarnation: int             # the target's incarnation when the probe began
    target_protocol_max: int
    sent: float
    indirect_at: float           # sent + probe_timeout: give up on the direct ack
    deadline: float              # sent + probe_interval scaled by health
    indirect_sent: bool = False
    expected_nacks: int = 0
    nacks: int = 0

    def failure_delta(self) -> int:
        """Health penalty for a failed probe: missing nacks blame us, not the target."""
        if self.expected_nacks > 0:
            return max(self.expected_nacks - self.nacks, 0)
        return 1


def buddy_messages(ping: Ping, suspected: bool, incarnation: int,
                   local_name: str) -> tuple[Ping] | tuple[Ping, Suspect]:
    """The probe datagram: a suspected target also gets the suspicion, to refute it at once."""
    if not suspected:
        return (ping,)
    return (ping, Suspect(incarnation=incarnation, node=ping.node, from_=local_name))
