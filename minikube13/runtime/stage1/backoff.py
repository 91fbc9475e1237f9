"""Kubelet-style restart back-off (pure): initial, doubling, capped; reset after a good run.

The kubelet keeps one back-off entry per container: the first restart waits `initial`,
each next one twice the previous, never more than `maximum`; an entry untouched for
2 x maximum (10 min with the 5 min default) expires, so a container that ran fine that long
starts again from `initial`.
"""

from __future__ import annotations


def next_delay(previous_s: float, ran_for_s: float, *, initial_s: float, maximum_s: float
               ) -> float:
    """The wait before the next start of a container that just exited.

    `previous_s` is the wait before its last start (0 when none), `ran_for_s` how long that
    run lasted.
    """
    if previous_s <= 0 or ran_for_s >= reset_after(maximum_s):
        return min(initial_s, maximum_s)
    return min(previous_s * 2, maximum_s)


def reset_after(maximum_s: float) -> float:
    """A run at least this long forgets the back-off (the kubelet's 2 x max)."""
    return 2 * maximum_s
