"""`minikube13 sim`: a whole gossip pool on a virtual clock, and what it measured."""

from __future__ import annotations

import random
import sys
import time

import click

from minikube13.gossip.config import DEFAULT_PROFILE, PROFILES
from minikube13.gossip.scenarios import (
    KINDS,
    Scenario,
    ScenarioError,
    format_result,
    parse_partition,
    run,
)


@click.command()
@click.option("--nodes", "-n", default=50, show_default=True, help="Members in the pool.")
@click.option("--seed", "-s", default=1, show_default=True, help="Random seed (same seed, same output).")
@click.option("--loss", default=0.0, show_default=True,
              help="Packet loss: a fraction (0.01) or a percentage (1%).", type=str)
@click.option("--partition", "partitions", multiple=True, metavar="SIZE@START-END",
              help="Cut the first SIZE members (count, or fraction < 1) off from START to END "
                   "seconds after the scenario starts; repeatable.")
@click.option("--duration", type=float, default=None,
              help="Virtual seconds to measure [join 10, kill 40, steady 60].")
@click.option("--scenario", type=click.Choice(KINDS), default="join", show_default=True,
              help="join: one new member joins; kill: one member dies; steady: nothing happens.")
@click.option("--profile", "profile_name", type=click.Choice(list(PROFILES)),
              default=DEFAULT_PROFILE, show_default=True,
              help="Gossip timing: fast (ours), lan or wan (memberlist's defaults).")
@click.option("--timing", is_flag=True, help="Also print the wall time taken (to stderr).")
def sim(nodes: int, seed: int, loss: str, partitions: tuple[str, ...], duration: float | None,
        scenario: str, profile_name: str, timing: bool) -> None:
    """Simulate N gossip members in one process and report convergence time, failure
    detection time, false positives and bytes per member per second."""
    try:
        loss_fraction = parse_loss(loss)
        cuts = tuple(parse_partition(p, nodes) for p in partitions)
        params = Scenario(scenario, nodes, loss=loss_fraction, partitions=cuts,
                          duration=duration, profile=profile_name)
        started = time.perf_counter()
        result = run(params, random.Random(seed), seed=seed)
    except ScenarioError as err:
        raise click.UsageError(str(err)) from None
    click.echo(format_result(result), nl=False)
    if timing:
        print(f"wall time {time.perf_counter() - started:.1f} s", file=sys.stderr)


def parse_loss(text: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ScenarioError(f"packet loss {text!r} is not a number") from None
    if not 0 <= value < 1:
        raise ScenarioError(f"packet loss {text!r} is not in [0, 1)")
    return value
