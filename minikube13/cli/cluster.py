"""`minikube13 join` and `minikube13 token create|list|revoke`.

Tokens are Secrets kube-system/bootstrap-token-<id> (as kubeadm keeps them), written through
the local daemon's socket; `token create` reads the CA from the daemon's /cacerts so the
printed token pins exactly what joining nodes will be shown.
"""

from __future__ import annotations

import asyncio
import random
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from minikube13.cli.objects import socket_option
from minikube13.cli.output import align
from minikube13.client.http import ClientError, SocketClient
from minikube13.cluster import ClusterError, tokens
from minikube13.cluster.credentials import api_url
from minikube13.daemon.config import hostname_node_name

SECRETS_PATH = f"/api/v1/namespaces/{tokens.NAMESPACE}/secrets"
DEFAULT_CONFIG_DIR = Path("/etc/minikube13")


@click.command("join")
@click.argument("server")
@click.option("--token", required=True, envvar="MINIKUBE13_TOKEN",
              help="The join token (K10<ca-sha256>::<id>.<secret>) from `minikube13 token "
                   "create` on a server.")
@click.option("--node-name", default="", help="This node's name (default: the hostname).")
@click.option("--config-dir", type=click.Path(path_type=Path), default=DEFAULT_CONFIG_DIR,
              show_default=True, help="Where the node's credentials are written.")
@click.option("--env-file", type=click.Path(path_type=Path), default=None,
              help="Also set MINIKUBE13_SERVER and MINIKUBE13_TOKEN in this environment "
                   "file (say /etc/default/minikube13d), so the service starts as an agent.")
def join_command(server: str, token: str, node_name: str, config_dir: Path,
                 env_file: Path | None) -> None:
    """Join the cluster of SERVER (host[:port]): pin its CA by the token's hash, get this
    node's certificate and the gossip key."""
    from minikube13.cluster.join import join, write_env_file
    name = node_name.strip().lower() or hostname_node_name(socket.gethostname())
    try:
        result = asyncio.run(join(server, token, name, config_dir.absolute()))
    except ClusterError as e:
        raise click.ClickException(str(e)) from None
    if env_file is not None:
        values = {"MINIKUBE13_SERVER": api_url(server).removeprefix("https://"),
                  "MINIKUBE13_TOKEN": token.strip()}
        if node_name:
            values["MINIKUBE13_NODE_NAME"] = name
        write_env_file(env_file, values)
    what = "already joined" if result.already_joined else "joined"
    click.echo(f"{what}: node {name} (id {result.fingerprint}); servers "
               f"{', '.join(result.api_urls) or api_url(server)}; credentials in {config_dir}")


@click.group()
def token() -> None:
    """Join tokens (bootstrap tokens) of this cluster."""


@token.command("create")
@click.option("--ttl", default="24h", show_default=True,
              help="How long the token is valid (like 24h, 1h30m; 0 = never expires).")
@click.option("--description", default="", help="A note shown by `token list`.")
@socket_option
def token_create(ttl: str, description: str, socket_path: Path) -> None:
    """Make a join token and print it."""
    client = SocketClient(socket_path)
    try:
        lifetime = tokens.parse_duration(ttl)
        ca_pem = _ca_pem(client)
        made = tokens.new_token(ca_pem, random.SystemRandom())
        secret = tokens.token_secret(made, datetime.now(UTC), lifetime, description)
        client.request("POST", SECRETS_PATH, secret)
    except (ClientError, ClusterError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(str(made))


@token.command("list")
@socket_option
def token_list(socket_path: Path) -> None:
    """List the join tokens: ID, TTL, EXPIRES, USAGES, DESCRIPTION."""
    try:
        body = SocketClient(socket_path).get(
            SECRETS_PATH, query={"fieldSelector": f"type={tokens.SECRET_TYPE}"})
    except ClientError as e:
        raise click.ClickException(str(e)) from None
    click.echo(tokens_table(list((body or {}).get("items") or []), datetime.now(UTC)))


@token.command("revoke")
@click.argument("token_id", metavar="ID")
@socket_option
def token_revoke(token_id: str, socket_path: Path) -> None:
    """Revoke a join token (give its id, or the whole token)."""
    try:
        wanted = tokens.token_id_of(token_id)
    except ClusterError as e:
        raise click.ClickException(str(e)) from None
    try:
        SocketClient(socket_path).request("DELETE", f"{SECRETS_PATH}/{tokens.secret_name(wanted)}")
    except ClientError as e:
        if e.code == 404:
            raise click.ClickException(f"no join token with id {wanted}") from None
        raise click.ClickException(str(e)) from None
    click.echo(f"join token {wanted} revoked")


def tokens_table(secrets: list[dict[str, Any]], now: datetime) -> str:
    rows = [["ID", "TTL", "EXPIRES", "USAGES", "DESCRIPTION"]]
    infos = [i for i in (tokens.token_info(s) for s in secrets) if i is not None]
    for info in sorted(infos, key=lambda i: i.token_id):
        expires = info.expires.strftime("%Y-%m-%dT%H:%M:%SZ") if info.expires else "<never>"
        rows.append([info.token_id, tokens.ttl_text(info.expires, now), expires,
                     ",".join(info.usages) or "<none>", info.description or "<none>"])
    return align(rows)


def _ca_pem(client: SocketClient) -> bytes:
    try:
        body = client.get("/cacerts", accept="application/x-pem-file")
    except ClientError as e:
        if e.code != 404:
            raise
        body = None
    if not isinstance(body, str) or "BEGIN CERTIFICATE" not in body:
        raise ClusterError("the daemon serves no CA at /cacerts (is it a server?)")
    return body.encode()
