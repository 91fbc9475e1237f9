"""`minikube13 members`: the gossip pool as the local daemon sees it, like `serf members`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from minikube13.cli.objects import socket_option
from minikube13.cli.output import align
from minikube13.client.http import ClientError, SocketClient

MEMBERS_PATH = "/minikube13/v1/members"


@click.command()
@click.option("-o", "--output", "fmt", type=click.Choice(["json"]), help="Output format.")
@socket_option
def members(fmt: str | None, socket_path: Path) -> None:
    """List the cluster's gossip members: name, address, status, role and zone."""
    try:
        body = SocketClient(socket_path).get(MEMBERS_PATH)
    except ClientError as e:
        if e.code == 404:
            raise click.ClickException("this daemon runs no gossip (no cluster membership)") from None
        raise click.ClickException(str(e)) from None
    items: list[dict[str, Any]] = list((body or {}).get("items") or [])
    if fmt == "json":
        click.echo(json.dumps(items, indent=2, sort_keys=True))
        return
    click.echo(members_table(items))


def members_table(items: list[dict[str, Any]]) -> str:
    rows = [["NAME", "ADDRESS", "STATUS", "ROLE", "ZONE"]]
    for m in sorted(items, key=lambda m: str(m.get("name", ""))):
        tags = m.get("tags") or {}
        rows.append([str(m.get("name", "")), f"{m.get('addr', '')}:{m.get('port', '')}",
                     str(m.get("status", "")), str(tags.get("role", "")) or "<none>",
                     str(tags.get("zone", "")) or "<none>"])
    return align(rows)
