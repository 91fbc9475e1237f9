"""Lifeguard's dynamic suspicion timeout (memberlist's suspicion.go), on a caller's clock.

A suspicion starts at the maximum timeout and shrinks logarithmically towards the minimum
as independent members confirm it (k confirmations reach the minimum), so a member that
many see failing is declared dead quickly, while one that only we cannot reach (perhaps
because we are the slow one) gets the long timeout and time to refute.
"""

from __future__ import annotations

import math

from minikube13.gossip.config import GossipConfig, suspicion_timeout


def suspicion_bounds(suspicion_mult: int, max_timeout_mult: int, n: int,
                     probe_interval: float, floor: float = 0.0) -> tuple[int, float, float]:
    """(k, min, max) for a cluster of n members (memberlist's suspectNode; `floor` is ours)."""
    k = suspicion_mult - 2
    if n - 2 < k:           # not enough other members to confirm: expect none
        k = 0
    low = max(floor, suspicion_timeout(suspicion_mult, n, probe_interval))
    return k, low, max_timeout_mult * low


def config_bounds(config: GossipConfig, n: int) -> tuple[int, float, float]:
    """(k, min, max) for a pool of n members under these settings."""
    return suspicion_bounds(config.suspicion_mult, config.suspicion_max_timeout_mult, n,
                            config.probe_interval, config.suspicion_min_floor)


def suspicion_duration(confirmations: int, k: int, low: float, high: float) -> float:
    """Total timeout after `confirmations` of the k wanted, truncated to milliseconds."""
    if k < 1:
        return low
    frac = math.log(confirmations + 1.0) / math.log(k + 1.0)
    raw = high - frac * (high - low)
    return max(low, math.floor(1000.0 * raw) / 1000.0)


class Suspicion:
    """The suspicion timer for one member: started at `start`, fires at `deadline`."""

    __slots__ = ("k", "low", "high", "start", "confirmations", "_from", "deadline")

    def __init__(self, from_: str, k: int, low: float, high: float, start: float) -> None:
        self.k = k
        self.low = low
        self.high = high
        self.start = start
        self.confirmations = 0
        self._from = [from_]        # who already counted (the accuser never confirms)
        self.deadline = start + (high if k >= 1 else low)

    def confirm(self, from_: str) -> bool:
        """A new independent accuser: shorten the timeout. False if nothing changed."""
        if self.confirmations >= self.k or from_ in self._from:
            return False
        self._from.append(from_)
        self.confirmations += 1
        self.deadline = self.start + suspicion_duration(
            self.confirmations, self.k, self.low, self.high)
        return True
