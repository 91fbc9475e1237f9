"""Gossip benchmark: the SWIM + Lifeguard core in the simulator, at 50, 500 and 2,000 members.

Usage: .venv/bin/python bench/gossip.py [--seed 1] [--sizes 50,500,2000] [--loss 0.01]
                                         [--gossip-profiles fast,lan] [--quick] [--profile]

Method (printed with the numbers): `minikube13.gossip.scenarios` runs N GossipCores (the very
code the daemon runs) in one process on a virtual clock, once per gossip profile: "fast" (the
daemon's default: probe every 0.2 s, 5 helpers) and "lan" (memberlist's DefaultLANConfig),
on a network that loses each datagram with probability --loss and delays it 1-5 ms; a TCP
push/pull is not lost, a TCP fallback ping fails if any of its 4 segments is lost (a
retransmission would miss the probe's deadline). Each pool starts converged, settles 5 s, then:
  convergence  one new member joins through a random member; seconds until 50 % .. 100 % of
               the others have it as alive (measured for 10 s)
  detection    one member is killed; seconds until all others suspect it (or already
               declared it dead), and until all declared it dead (measured for 40 s)
  traffic      nothing happens for 300 s; bytes each member sends per second: UDP datagrams
               (probes, acks, piggybacked gossip) and TCP push/pull, encoded as memberlist
               does before compression and encryption (no IP/UDP/TCP headers)
Unless --quick, it also runs 2,000 members for one hour at 5 % loss with the first profile
and counts live members declared dead (issue 6 wants none; ~36 minutes here). Wall times are this process on this machine.
It prints numbers; it asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minikube13.gossip.scenarios import Result, Scenario, run  # noqa: E402

MEMBERLIST_MODEL = (
    "memberlist/Serf published model (serf.io convergence simulator, defaults 0.2 s "
    "gossip, fanout 3):\n"
    "  99.99% convergence ~2.4 s at 5,000 nodes; estimated bandwidth <= 41 kB/s per node")


def timed(scenario: Scenario, seed: int) -> tuple[Result, float]:
    """Run one scenario; the result and the wall seconds it took."""
    started = time.perf_counter()
    result = run(scenario, random.Random(seed), seed=seed)
    return result, time.perf_counter() - started


def secs(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:6.2f}"


def bench_size(n: int, loss: float, seed: int, profile: str) -> list[str]:
    join, t_join = timed(Scenario("join", n, loss=loss, duration=10.0, profile=profile), seed)
    kill, t_kill = timed(Scenario("kill", n, loss=loss, duration=40.0, profile=profile), seed)
    steady, t_steady = timed(Scenario("steady", n, loss=loss, duration=300.0,
                                      profile=profile), seed)
    c = join.convergence
    return [
        f"{profile:>4} {n:>6} | conv 50% {secs(c[0.5])} 99% {secs(c[0.99])} 99.99% {secs(c[0.9999])} "
        f"all {secs(c[1.0])} s | suspected by all {secs(kill.suspected[1.0])} s, "
        f"dead by all {secs(kill.dead[1.0])} s | UDP {steady.udp_bytes_per_node_s:6.0f} B/s "
        f"(join {join.udp_bytes_per_node_s:5.0f}, kill {kill.udp_bytes_per_node_s:5.0f}) "
        f"TCP {steady.tcp_bytes_per_node_s:6.0f} B/s | false deaths "
        f"{join.false_deaths + kill.false_deaths + steady.false_deaths}",
        f"{'':>11} | wall: join {t_join:.1f} s, kill {t_kill:.1f} s, steady 300 s {t_steady:.1f} s",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sizes", default="50,500,2000")
    parser.add_argument("--loss", type=float, default=0.01)
    parser.add_argument("--gossip-profiles", default="fast,lan")
    parser.add_argument("--quick", action="store_true", help="skip the 2,000 x 1 h run")
    parser.add_argument("--profile", action="store_true", help="cProfile the largest size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    profiles = args.gossip_profiles.split(",")
    print("Method" + __doc__.split("Method", 1)[1].split("It prints", 1)[0].rstrip())
    print(f"\nseed {args.seed}, packet loss {args.loss * 100:g}%\n")
    for name in profiles:
        for n in sizes:
            if args.profile and n == max(sizes):
                profiler = cProfile.Profile()
                profiler.enable()
                lines = bench_size(n, args.loss, args.seed, name)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
            else:
                lines = bench_size(n, args.loss, args.seed, name)
            print("\n".join(lines), flush=True)
    print()
    print(MEMBERLIST_MODEL)
    if not args.quick:
        hour, wall = timed(Scenario("steady", 2000, loss=0.05, duration=3600.0,
                                    profile=profiles[0]), args.seed)
        print(f"\n2,000 members, 1 hour, 5% loss, profile {profiles[0]}: {hour.false_deaths} live members declared "
              f"dead, {hour.false_suspicions} suspicions, UDP {hour.udp_bytes_per_node_s:.0f}"
              f" B/s, TCP {hour.tcp_bytes_per_node_s:.0f} B/s per member, "
              f"{hour.stream_pings_per_node_s:.3f} TCP fallback pings/s; wall {wall:.0f} s")


if __name__ == "__main__":
    main()
