"""Whole gossip pools on a virtual clock: convergence, failure detection, false positives.

Issue 6, done-when 1, with the daemon's default ("fast") profile. Wall times on the 2-core
machine: join 2,000 ~6 s, kill 2,000 ~8 s, steady 300 x 1 h at 5% loss ~160 s (marked slow).
The 2,000 x 1 h run takes ~36 minutes (five probes a second per member, and at 5% loss
about two false suspicions a minute to refute), so the suite runs the hour at 300 members;
`minikube13 sim --nodes 2000 --scenario steady --loss 5% --duration 3600` runs it at 2,000.
"""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner

from minikube13.cli.main import cli
from minikube13.gossip.config import GossipConfig, profile, suspicion_timeout
from minikube13.gossip.messages import NodeState
from minikube13.gossip.scenarios import Result, Scenario, format_result, parse_partition, run
from minikube13.gossip.sim import Partition, Simulation, node_name
from minikube13.gossip.suspicion import config_bounds

LOSS_1 = 0.01
STEADY_MEMBERS = 300     # the largest pool whose hour-long run stays under 3 minutes here


def scenario(kind: str, nodes: int, seed: int = 1, **kw: object) -> Result:
    return run(Scenario(kind, nodes, **kw), random.Random(seed), seed=seed)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def join_2000() -> Result:
    return scenario("join", 2000, loss=LOSS_1, duration=10.0)


@pytest.fixture(scope="module")
def kill_2000() -> Result:
    return scenario("kill", 2000, loss=LOSS_1, duration=25.0)


def test_a_new_member_reaches_99_99_percent_of_2000_within_3_s(join_2000: Result) -> None:
    """With 1% loss, 99.99% of 1,999 members (that is, all) learn the joiner within 3 s."""
    assert join_2000.observers == 1999
    learnt = join_2000.convergence[0.9999]
    assert learnt is not None and learnt <= 3.0
    assert join_2000.joiner_knows == 1999
    assert join_2000.false_deaths == 0


def test_a_killed_member_is_known_dead_by_all_2000_within_5_s(kill_2000: Result) -> None:
    """With 1% loss every one of the 1,999 live members declares the killed one dead within
    5 s; not before the shortest suspicion timeout (Lifeguard: confirmations bring it down to
    4 x log10(2000) x 0.2 s = 2.64 s, never below)."""
    assert kill_2000.reached_suspect == kill_2000.observers == 1999
    suspected = kill_2000.suspected[1.0]
    assert suspected is not None and suspected <= 2.0
    _, minimum, _ = config_bounds(profile("fast"), 2000)
    dead = kill_2000.dead[1.0]
    assert dead is not None and minimum <= dead <= 5.0
    assert kill_2000.reached_dead == 1999
    assert kill_2000.false_deaths == kill_2000.false_suspicions == 0


def test_memberlists_lan_timing_takes_longer_to_declare_death() -> None:
    """The lan profile (memberlist's defaults) cannot declare death before 4 x log10(n) x 1 s;
    the report names the profile it ran."""
    result = scenario("kill", 300, loss=LOSS_1, duration=30.0, profile="lan")
    dead = result.dead[1.0]
    assert dead is not None and suspicion_timeout(4, 300, 1.0) <= dead
    assert "profile lan" in format_result(result)


@pytest.mark.slow
def test_no_live_member_is_declared_dead_in_an_hour_at_5_percent_loss() -> None:
    result = scenario("steady", STEADY_MEMBERS, loss=0.05, duration=3600.0, seed=5)
    assert result.false_deaths == 0
    assert 0.045 < result.udp_lost_fraction < 0.055
    assert result.stream_pings_per_node_s > 0      # the TCP fallback did work


def test_same_seed_same_report_byte_for_byte() -> None:
    first = format_result(scenario("kill", 300, seed=11, loss=0.02, duration=20.0))
    again = format_result(scenario("kill", 300, seed=11, loss=0.02, duration=20.0))
    other = format_result(scenario("kill", 300, seed=12, loss=0.02, duration=20.0))
    assert first == again
    assert first != other


def test_a_partition_is_seen_as_failures_on_both_sides_only() -> None:
    """40 of 120 members cut off for a minute: each side stops trusting the other (suspect,
    dead, or dead and forgotten after 30 s), nobody gives up on a member of its own side."""
    size, cut = 120, 40
    sim = Simulation(size, random.Random(3), partitions=[Partition(cut, 5.0, 70.0)])
    sim.run_until(70.0)
    assert sim.false_deaths and all(f.across_partition for f in sim.false_deaths)
    assert len(sim.false_deaths) >= 0.99 * 2 * cut * (size - cut)
    for i, core in enumerate(sim.cores):
        for j in range(size):
            member = core.member(node_name(j))
            trusted = member is not None and member.state == NodeState.ALIVE
            assert trusted != ((i < cut) != (j < cut))


def test_partition_specs() -> None:
    assert parse_partition("0.3@10-40", 200) == Partition(60, 10.0, 40.0)
    assert parse_partition("25@0-5", 200) == Partition(25, 0.0, 5.0)
    for bad in ("0.3", "300@1-2", "10@5-1", "x@1-2"):
        with pytest.raises(ValueError):
            parse_partition(bad, 200)


def test_small_pool_without_loss_has_no_false_positives() -> None:
    sim = Simulation(50, random.Random(4), config=GossipConfig(notify_suspect=True))
    sim.run_until(300.0)
    assert sim.false_deaths == [] and sim.false_suspicions == 0
    assert all(len(core.members()) == 50 for core in sim.cores)
    assert node_name(7) == "node-00007"


def test_cli_prints_the_report_and_repeats_it_exactly() -> None:
    args = ["sim", "--nodes", "120", "--seed", "9", "--scenario", "kill", "--loss", "1%",
            "--duration", "20", "--partition", "0.1@30-40"]
    first = CliRunner().invoke(cli, args)
    again = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert first.output == again.output
    for line in ("scenario kill, 120 members, seed 9, packet loss 1%",
                 "12 members cut off 30-40 s", "suspected or dead by    all:",
                 "declared dead by 99.99%:", "declared dead: 0", "UDP "):
        assert line in first.output
    bad = CliRunner().invoke(cli, ["sim", "--partition", "nonsense"])
    assert bad.exit_code == 2 and "SIZE@START-END" in bad.output
