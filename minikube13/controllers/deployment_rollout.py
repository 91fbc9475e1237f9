"""The replica arithmetic of a Deployment rollout (pure), after kube's deployment controller.

Functions here work on `Plan`: working copies of the ReplicaSets whose `spec.replicas` they
change in memory; deployment.py turns the changes into actions afterwards. Old ReplicaSets
are kept oldest first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

Object = dict[str, Any]


@dataclass
class Plan:
    replicas: int  # the Deployment's spec.replicas
    new: Object | None
    old: list[Object] = field(default_factory=list)

    @property
    def all(self) -> list[Object]:
        return ([self.new] if self.new is not None else []) + self.old


def replicas_of(rs: Object | None) -> int:
    return int((rs or {}).get("spec", {}).get("replicas", 0) or 0) if rs else 0


def set_replicas(rs: Object, count: int) -> None:
    rs.setdefault("spec", {})["replicas"] = max(count, 0)


def available_of(rs: Object | None) -> int:
    return int(((rs or {}).get("status") or {}).get("availableReplicas", 0) or 0)


def total(rss: list[Object]) -> int:
    return sum(replicas_of(rs) for rs in rss)


def resolve(value: Any, replicas: int, round_up: bool) -> int:
    """An int-or-percent of `replicas` (kube's intstr.GetScaledValueFromIntOrPercent)."""
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1] or 0) * replicas / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value or 0)


def fenceposts(deployment: Object) -> tuple[int, int]:
    """(maxSurge, maxUnavailable): surge rounds up, unavailable down; never both zero."""
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = resolve(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = resolve(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def new_rs_replicas(plan: Plan, surge: int) -> int:
    """How many replicas the new ReplicaSet may have now (kube's NewRSNewReplicas)."""
    current = replicas_of(plan.new)
    max_total = plan.replicas + surge
    all_pods = total(plan.all)
    if all_pods >= max_total:
        return current
    return current + max(min(max_total - all_pods, plan.replicas - current), 0)


def scale_new_rolling(plan: Plan, surge: int) -> None:
    assert plan.new is not None
    if replicas_of(plan.new) > plan.replicas:
        set_replicas(plan.new, plan.replicas)
    else:
        set_replicas(plan.new, new_rs_replicas(plan, surge))


def scale_old_rolling(plan: Plan, unavailable: int) -> None:
    """Scale old ReplicaSets down as far as availability allows (reconcileOldReplicaSets)."""
    if total(plan.old) == 0:
        return
    min_available = plan.replicas - unavailable
    new_unavailable = replicas_of(plan.new) - available_of(plan.new)
    max_scaled_down = total(plan.all) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return
    cleaned = _cleanup_unhealthy(plan.old, max_scaled_down)
    available = sum(available_of(rs) for rs in plan.all)
    if available <= min_available:
        return
    _scale_down(plan.old, min(available - min_available, max_scaled_down - cleaned))


def _cleanup_unhealthy(old: list[Object], budget: int) -> int:
    """Scale down the unavailable replicas of old ReplicaSets first."""
    done = 0
    for rs in old:
        if done >= budget:
            break
        unhealthy = replicas_of(rs) - available_of(rs)
        if unhealthy <= 0:
            continue
        step = min(unhealthy, budget - done)
        set_replicas(rs, replicas_of(rs) - step)
        done += step
    return done


def _scale_down(old: list[Object], count: int) -> None:
    for rs in old:
        if count <= 0:
            return
        step = min(replicas_of(rs), count)
        set_replicas(rs, replicas_of(rs) - step)
        count -= step


def proportional_scale(plan: Plan, surge: int, rolling: bool = True) -> None:
    """Spread a change of spec.replicas over the active ReplicaSets (kube's `scale`)."""
    active = [rs for rs in plan.all if replicas_of(rs) > 0]
    if len(active) <= 1:
        target = active[0] if active else plan.new or (plan.old[-1] if plan.old else None)
        if target is not None:
            set_replicas(target, plan.replicas)
        return
    if plan.new is not None and replicas_of(plan.new) == plan.replicas and \
            available_of(plan.new) >= plan.replicas:
        for rs in plan.old:
            set_replicas(rs, 0)
        return
    if not rolling:
        return
    allowed = plan.replicas + surge if plan.replicas > 0 else 0
    current = total(active)
    delta = allowed - current
    if delta == 0:
        return
    order = sorted(active, key=replicas_of, reverse=True)
    shares = [_share(rs, delta, current) for rs in order]
    shares[0] += delta - sum(shares)  # the largest set absorbs the rounding, as kube does
    for rs, share in zip(order, shares, strict=True):
        set_replicas(rs, replicas_of(rs) + share)


def _share(rs: Object, delta: int, current: int) -> int:
    fraction = replicas_of(rs) * delta / current
    return math.floor(fraction) if delta > 0 else math.ceil(fraction)


def is_scaling_event(plan: Plan, desired_annotation: str) -> bool:
    """Whether spec.replicas changed since the active ReplicaSets were last sized."""
    for rs in plan.all:
        if replicas_of(rs) <= 0:
            continue
        annotations = (rs.get("metadata") or {}).get("annotations") or {}
        text = annotations.get(desired_annotation)
        if text is not None and text.isdigit() and int(text) != plan.replicas:
            return True
    return False
