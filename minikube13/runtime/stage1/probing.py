"""When to probe a container and what the results mean (pure; the kubelet's prober rules).

A probe runs `initialDelaySeconds` after the container started, then every `periodSeconds`
(default 10) with a `timeoutSeconds` limit (default 1). `failureThreshold` (default 3)
consecutive failures make a liveness probe kill the container and a readiness probe mark it
unready; `successThreshold` (default 1) consecutive successes mark it ready again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LIVENESS = "liveness"
READINESS = "readiness"


def _num(probe: dict[str, Any], key: str, default: float, minimum: float) -> float:
    value = probe.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return default
    return max(float(value), minimum)


@dataclass
class ProbeTrack:
    """One probe of one run of a container."""
    kind: str
    spec: dict[str, Any]
    next_at: float
    in_flight: bool = False
    successes: int = 0
    failures: int = 0
    verdict: bool | None = None   # readiness: ready?  liveness: False once it failed enough
    last_message: str = field(default="")

    @classmethod
    def start(cls, kind: str, spec: dict[str, Any], now: float) -> ProbeTrack:
        delay = spec.get("initialDelaySeconds")
        delay_s = float(delay) if isinstance(delay, int | float) and delay > 0 else 0.0
        return cls(kind, spec, now + delay_s)

    @property
    def period_s(self) -> float:
        return _num(self.spec, "periodSeconds", 10.0, 0.1)

    @property
    def timeout_s(self) -> float:
        return _num(self.spec, "timeoutSeconds", 1.0, 0.1)

    @property
    def failure_threshold(self) -> int:
        return int(_num(self.spec, "failureThreshold", 3, 1))

    @property
    def success_threshold(self) -> int:
        return int(_num(self.spec, "successThreshold", 1, 1))

    def due(self, now: float) -> bool:
        return not self.in_flight and now >= self.next_at

    def launched(self) -> None:
        self.in_flight = True

    def record(self, ok: bool, now: float, message: str = "") -> bool | None:
        """Count a result; the new verdict when it changed, else None."""
        self.in_flight = False
        self.next_at = now + self.period_s
        self.last_message = message
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            new = True if self.successes >= self.success_threshold else self.verdict
        else:
            self.successes, self.failures = 0, self.failures + 1
            new = False if self.failures >= self.failure_threshold else self.verdict
        if new == self.verdict:
            return None
        self.verdict = new
        return new

    def wake_at(self) -> float | None:
        return None if self.in_flight else self.next_at
