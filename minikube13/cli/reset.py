"""`minikube13 reset`: tear down every pod of a data dir (after its daemon stopped)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

log = logging.getLogger(__name__)


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("/var/lib/minikube13"), show_default=True,
              envvar="MINIKUBE13_DATA_DIR", help="The daemon's data directory.")
@click.option("--keep-network", is_flag=True,
              help="Leave the node's pod bridge, routes and nftables tables in place.")
def reset(data_dir: Path, keep_network: bool) -> None:
    """Kill every pod of DATA_DIR: stage1s, runc containers, mounts, cgroups, netns, dirs;
    then remove the node's pod network (bridge, routes, overlay, nftables tables, address
    allocations) from the network namespace this command runs in."""
    from minikube13.runtime.gc import reset_data_dir

    uids = reset_data_dir(data_dir)
    click.echo(f"removed {len(uids)} pod(s) from {data_dir}")
    if not keep_network and (data_dir / "net").exists():
        _remove_network(data_dir)
        click.echo("removed the node's pod network")


def _remove_network(data_dir: Path) -> None:
    from minikube13.net import nft
    from minikube13.net.node_network import NodeNetwork
    from minikube13.net.services.rules import remove_ruleset

    NodeNetwork(data_dir, "10.42.0.0/16").remove()  # the range only matters for new pods
    nft.apply(remove_ruleset())  # Service and policy tables (a no-op when absent)
