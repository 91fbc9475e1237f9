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
def reset(data_dir: Path) -> None:
    """Kill every pod of DATA_DIR: stage1s, runc containers, mounts, cgroups, netns, dirs."""
    from minikube13.runtime.gc import reset_data_dir

    uids = reset_data_dir(data_dir)
    click.echo(f"removed {len(uids)} pod(s) from {data_dir}")
