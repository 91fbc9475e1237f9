"""Prometheus metrics of the API server, in the apiserver's names.

Pure: the server measures durations and calls `observe`; `render` writes the text format
(version 0.0.4) that Prometheus scrapes from /metrics.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0,
           5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: int = 0
    sum: float = 0.0

    def observe(self, seconds: float) -> None:
        i = bisect.bisect_left(BUCKETS, seconds)
        if i < len(BUCKETS):
            self.counts[i] += 1
        self.total += 1
        self.sum += seconds


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class APIMetrics:
    """Request counts and latencies by (verb, resource, code), and open watches."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.durations: dict[tuple[str, str], _Histogram] = {}
        self.watchers: Counter[str] = Counter()

    def observe(self, verb: str, resource: str, code: int, seconds: float) -> None:
        self.requests[(verb, resource, str(code))] += 1
        self.durations.setdefault((verb, resource), _Histogram()).observe(seconds)

    def watch_started(self, resource: str) -> None:
        self.watchers[resource] += 1

    def watch_ended(self, resource: str) -> None:
        self.watchers[resource] -= 1

    def render(self, store_stats: dict[str, int] | None = None) -> str:
        lines = ["# HELP apiserver_request_total Counter of apiserver requests broken out "
                 "for each verb, resource and HTTP response code.",
                 "# TYPE apiserver_request_total counter"]
        for (verb, resource, code), n in sorted(self.requests.items()):
            lines.append(f"apiserver_request_total"
                         f"{_labels(verb=verb, resource=resource, code=code)} {n}")
        lines += ["# HELP apiserver_request_duration_seconds Response latency distribution "
                  "in seconds for each verb and resource.",
                  "# TYPE apiserver_request_duration_seconds histogram"]
        for (verb, resource), h in sorted(self.durations.items()):
            lines += self._histogram_lines(verb, resource, h)
        lines += ["# HELP apiserver_registered_watchers Number of currently open watches "
                  "for a given resource.",
                  "# TYPE apiserver_registered_watchers gauge"]
        for resource, n in sorted(self.watchers.items()):
            lines.append(f"apiserver_registered_watchers{_labels(resource=resource)} {n}")
        for key, value in sorted((store_stats or {}).items()):
            name = "minikube13_store_" + "".join(c if c.isalnum() else "_" for c in key)
            lines += [f"# TYPE {name} gauge", f"{name} {value}"]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _histogram_lines(verb: str, resource: str, h: _Histogram) -> list[str]:
        out, running = [], 0
        name = "apiserver_request_duration_seconds"
        for bound, n in zip(BUCKETS, h.counts, strict=True):
            running += n
            out.append(f"{name}_bucket{_labels(verb=verb, resource=resource, le=str(bound))} "
                       f"{running}")
        out.append(f"{name}_bucket{_labels(verb=verb, resource=resource, le='+Inf')} {h.total}")
        out.append(f"{name}_sum{_labels(verb=verb, resource=resource)} {h.sum}")
        out.append(f"{name}_count{_labels(verb=verb, resource=resource)} {h.total}")
        return out
