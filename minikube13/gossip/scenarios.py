"""The simulator's scenarios (join, kill, steady) and their plain-text report.

Everything here is deterministic for a seeded `random.Random`: the report is the same, byte for
byte, for the same seed and parameters (it prints virtual time only, never wall time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from minikube13.gossip.config import (
    DEFAULT_PROFILE,
    PROFILES,
    GossipConfig,
    Rng,
    profile,
    retransmit_limit,
)
from minikube13.gossip.sim import Network, Partition, Simulation, Watch, node_name
from minikube13.gossip.suspicion import config_bounds

KINDS = ("join", "kill", "steady")
DEFAULT_DURATION = {"join": 10.0, "kill": 40.0, "steady": 60.0}
FRACTIONS = (0.5, 0.9, 0.99, 0.9999, 1.0)


class ScenarioError(ValueError):
    """Parameters that make no scenario (bad partition spec, too few members)."""


@dataclass(frozen=True)
class Scenario:
    kind: str
    nodes: int
    loss: float = 0.0
    partitions: tuple[Partition, ...] = ()     # times relative to the scenario's start
    duration: float | None = None
    warmup: float = 5.0
    latency: tuple[float, float] = (0.001, 0.005)
    profile: str = DEFAULT_PROFILE             # a name from gossip.config.PROFILES

    @property
    def seconds(self) -> float:
        return self.duration if self.duration is not None else DEFAULT_DURATION[self.kind]


@dataclass
class Result:
    scenario: Scenario
    seed: int | None
    subject: str = ""
    convergence: dict[float, float | None] = field(default_factory=dict)
    joiner_knows: int = 0
    first_suspicion: float | None = None
    suspected: dict[float, float | None] = field(default_factory=dict)
    dead: dict[float, float | None] = field(default_factory=dict)
    observers: int = 0
    reached_suspect: int = 0
    reached_dead: int = 0
    false_deaths: int = 0
    false_deaths_across_partition: int = 0
    false_suspicions: int = 0
    udp_bytes_per_node_s: float = 0.0
    udp_packets_per_node_s: float = 0.0
    udp_lost_fraction: float = 0.0
    tcp_bytes_per_node_s: float = 0.0
    stream_pings_per_node_s: float = 0.0
    live_members: int = 0


def parse_partition(spec: str, nodes: int) -> Partition:
    """`SIZE@START-END`: the first SIZE members (a count, or a fraction below 1) are cut off
    from the rest from START until END seconds after the scenario starts."""
    try:
        size_text, times = spec.split("@", 1)
        start_text, end_text = times.split("-", 1)
        size_value, start, end = float(size_text), float(start_text), float(end_text)
    except ValueError:
        raise ScenarioError(f"bad partition {spec!r}: want SIZE@START-END, "
                            "e.g. 0.3@10-40 or 100@10-40") from None
    size = round(size_value * nodes) if size_value < 1 else int(size_value)
    if not 0 < size < nodes or not 0 <= start < end:
        raise ScenarioError(f"bad partition {spec!r}: need 0 < SIZE < {nodes}, START < END")
    return Partition(size, start, end)


def run(scenario: Scenario, rng: Rng, seed: int | None = None,
        config: GossipConfig | None = None) -> Result:
    """Build the pool, let it settle for `warmup`, act, and measure for `seconds`."""
    if scenario.kind not in KINDS:
        raise ScenarioError(f"unknown scenario {scenario.kind!r}: one of {', '.join(KINDS)}")
    if scenario.nodes < 3:
        raise ScenarioError("a scenario needs at least 3 members")
    if scenario.profile not in PROFILES:
        raise ScenarioError(f"unknown profile {scenario.profile!r}: one of "
                            f"{', '.join(PROFILES)}")
    config = config or scenario_config(scenario)
    start = scenario.warmup
    existing = scenario.nodes - 1 if scenario.kind == "join" else scenario.nodes
    sim = Simulation(existing, rng, config=config,
                     network=Network(loss=scenario.loss, latency=scenario.latency),
                     partitions=[Partition(p.size, p.start + start, p.end + start)
                                 for p in scenario.partitions])
    sim.run_until(start)
    sim.reset_traffic()
    result = Result(scenario, seed)
    if scenario.kind == "join":
        joiner = sim.add_node()
        result.subject = node_name(joiner)
        watch = sim.watch(result.subject, ["join", "alive-again"], existing)
        sim.join(joiner, int(rng.random() * existing))
        sim.run_until(start + scenario.seconds)
        result.convergence = {f: watch.time_to(f) for f in FRACTIONS}
        result.observers = existing
        result.joiner_knows = len(sim.cores[joiner].members()) - 1
    elif scenario.kind == "kill":
        victim = int(rng.random() * existing)
        result.subject = node_name(victim)
        suspected = sim.watch(result.subject, ["suspect", "fail"], existing - 1)
        dead = sim.watch(result.subject, ["fail"], existing - 1)
        sim.kill(victim)
        sim.run_until(start + scenario.seconds)
        _detection(result, suspected, dead)
    else:
        sim.run_until(start + scenario.seconds)
    _traffic(result, sim)
    return result


def scenario_config(scenario: Scenario) -> GossipConfig:
    """The scenario's profile, reporting suspicions too (the simulator counts them)."""
    return profile(scenario.profile, notify_suspect=True)


def _detection(result: Result, suspected: Watch, dead: Watch) -> None:
    result.observers = suspected.observers
    result.first_suspicion = suspected.time_to(0.0)
    result.suspected = {f: suspected.time_to(f) for f in FRACTIONS}
    result.dead = {f: dead.time_to(f) for f in FRACTIONS}
    result.reached_suspect = len(suspected.times)
    result.reached_dead = len(dead.times)


def _traffic(result: Result, sim: Simulation) -> None:
    live = sim.live_count()
    seconds = max(sim.now - sim.traffic_since, 1e-9)
    per = live * seconds
    result.live_members = live
    result.udp_bytes_per_node_s = sim.udp_bytes / per
    result.udp_packets_per_node_s = sim.udp_packets / per
    result.udp_lost_fraction = sim.udp_lost / max(sim.udp_packets, 1)
    result.tcp_bytes_per_node_s = sim.tcp_bytes / per
    result.stream_pings_per_node_s = sim.stream_pings / per
    result.false_deaths = len(sim.false_deaths)
    result.false_deaths_across_partition = sum(f.across_partition for f in sim.false_deaths)
    result.false_suspicions = sim.false_suspicions


def _secs(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.3f} s"


def _fraction(f: float) -> str:
    return "all" if f == 1.0 else f"{f * 100:g}%"


def _ladder(label: str, times: dict[float, float | None]) -> list[str]:
    return [f"  {label} by {_fraction(f):>6}: {_secs(t)}" for f, t in times.items()]


def format_result(result: Result, config: GossipConfig | None = None) -> str:
    s = result.scenario
    cfg = config or scenario_config(s)
    k, low, high = config_bounds(cfg, s.nodes)
    parts = ", ".join(f"{p.size} members cut off {p.start:g}-{p.end:g} s"
                      for p in s.partitions) or "none"
    lines = [
        f"minikube13 gossip simulation (SWIM + Lifeguard, profile {s.profile})",
        f"  scenario {s.kind}, {s.nodes} members, seed {result.seed}, "
        f"packet loss {s.loss * 100:g}%, latency {s.latency[0] * 1000:g}-"
        f"{s.latency[1] * 1000:g} ms one way",
        f"  partitions: {parts}",
        f"  probe every {cfg.probe_interval:g} s (timeout {cfg.probe_timeout:g} s, "
        f"{cfg.indirect_checks} indirect), gossip every {cfg.gossip_interval:g} s to "
        f"{cfg.gossip_nodes}, retransmit {retransmit_limit(cfg.retransmit_mult, s.nodes)}x, "
        f"suspicion {low:g}-{high:g} s ({k} confirmations)",
        f"  measured for {s.seconds:g} s of virtual time after a {s.warmup:g} s warm-up",
    ]
    if s.kind == "join":
        lines.append(f"convergence: {result.subject} joins; when the {result.observers} "
                     "other members learn it")
        lines += _ladder("learnt", result.convergence)
        lines.append(f"  the new member knows {result.joiner_knows} of {result.observers}")
    elif s.kind == "kill":
        lines.append(f"failure detection: {result.subject} killed; "
                     f"{result.observers} live members")
        lines.append(f"  first suspicion: {_secs(result.first_suspicion)}")
        lines += _ladder("suspected or dead", result.suspected)
        lines += _ladder("declared dead", result.dead)
        lines.append(f"  reached: {result.reached_suspect} suspected, "
                     f"{result.reached_dead} declared dead")
    lines += [
        "false positives (live members):",
        f"  declared dead: {result.false_deaths} "
        f"({result.false_deaths_across_partition} across a partition), "
        f"suspicions: {result.false_suspicions}",
        f"traffic per live member ({result.live_members}), memberlist encoding before "
        "compression/encryption:",
        f"  UDP {result.udp_bytes_per_node_s:.0f} B/s in {result.udp_packets_per_node_s:.2f} "
        f"packets/s ({result.udp_lost_fraction * 100:.2f}% lost)",
        f"  TCP push/pull {result.tcp_bytes_per_node_s:.0f} B/s, "
        f"TCP fallback pings {result.stream_pings_per_node_s:.3f}/s",
    ]
    return "\n".join(lines) + "\n"
