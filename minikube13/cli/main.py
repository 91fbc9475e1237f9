"""The `minikube13` command and the `minikube13d` entry point."""

from __future__ import annotations

import click

from minikube13 import KUBERNETES_GIT_VERSION, __version__
from minikube13.cli.certs import certs
from minikube13.cli.cluster import join_command, token
from minikube13.cli.daemon import daemon
from minikube13.cli.images import images
from minikube13.cli.members import members
from minikube13.cli.objects import apply, delete, describe, get
from minikube13.cli.reset import reset
from minikube13.cli.sim import sim
from minikube13.runtime.stage1.command import stage1


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """minikube13: the Kubernetes 1.3 feature set in one node daemon."""


@cli.command()
def version() -> None:
    """Print the minikube13 and Kubernetes API versions."""
    click.echo(f"minikube13 {__version__}")
    click.echo(f"Kubernetes {KUBERNETES_GIT_VERSION}")


for command in (daemon, certs, get, apply, delete, describe):
    cli.add_command(command)
cli.add_command(images)
cli.add_command(members)
cli.add_command(join_command)
cli.add_command(token)
cli.add_command(reset)
cli.add_command(sim)
cli.add_command(stage1)


def daemon_entry() -> None:
    """`minikube13d`: the same as `minikube13 daemon` (what systemd runs)."""
    daemon(prog_name="minikube13d")
