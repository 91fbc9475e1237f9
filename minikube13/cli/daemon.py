"""`minikube13 daemon` (also `minikube13d`): run the node daemon in the foreground."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from minikube13.auth.tls import PkiError
from minikube13.daemon.config import ConfigError, load_config


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Where the store lives (<data-dir>/state.db). [/var/lib/minikube13]")
@click.option("--config-dir", type=click.Path(path_type=Path), default=None,
              help="Certificates (pki/) and admin.kubeconfig. [/etc/minikube13]")
@click.option("--socket", type=click.Path(path_type=Path), default=None,
              help="The local API socket. [/run/minikube13/api.sock]")
@click.option("--bind-address", default=None, help="Address of the TLS API. [0.0.0.0]")
@click.option("--secure-port", default=None, help="Port of the TLS API. [6443]")
@click.option("--node-name", default=None, help="This node's name. [the hostname]")
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR. [INFO]")
@click.option("--run-pods/--no-run-pods", default=None,
              help="Register this node and run the pods bound to it. [on]")
@click.option("--registry-allow", default=None,
              help="Comma-separated host[:port] patterns image pulls may use. [*]")
@click.option("--pod-backoff-initial", default=None,
              help="Container restart back-off: first delay in seconds. [10]")
@click.option("--pod-backoff-max", default=None,
              help="Container restart back-off: longest delay in seconds. [300]")
@click.option("--pids-limit", default=None, help="Most processes per container. [4096]")
@click.option("--server", default=None,
              help="Run as an agent of this server (host[:port]). [be a server]")
@click.option("--token", default=None, help="Join token of the server (minikube13 token create).")
@click.option("--advertise-address", default=None,
              help="Address other nodes reach this node at. [the bind address or the first global]")
@click.option("--gossip-port", default=None, help="Gossip (memberlist) UDP and TCP port. [7946]")
@click.option("--gossip-profile", default=None,
              help="Gossip timing: fast (dead to all in ~3 s; RTT under 100 ms), lan or wan "
                   "(memberlist's defaults). [fast]")
@click.option("--zone", default=None, help="This node's zone label. [none]")
@click.option("--region", default=None, help="This node's region label. [none]")
@click.option("--node-grace", default=None,
              help="Seconds a node may be dead to every member before it is NotReady. [40]")
@click.option("--pod-eviction-timeout", default=None,
              help="Seconds after NotReady before its pods are evicted. [300]")
@click.option("--pod-network/--no-pod-network", default=None,
              help="Give pods addresses on a node bridge (off: loopback only). [on]")
@click.option("--cluster-cidr", default=None, help="Pod address range. [10.42.0.0/16]")
@click.option("--node-cidr-mask", default=None, help="Prefix length of each node's pod range. [24]")
@click.option("--service-cidr", default=None, help="ClusterIP range. [10.43.0.0/16]")
@click.option("--node-port-range", default=None, help="NodePort range. [30000-32767]")
@click.option("--cluster-domain", default=None, help="Cluster DNS domain. [cluster.local]")
@click.option("--dns-port", default=None, help="Port of the node's DNS server. [53]")
@click.option("--resolv-conf", default=None,
              help="Upstream resolvers for DNS and Default-policy pods. [/etc/resolv.conf]")
@click.option("--env-file", type=click.Path(path_type=Path), default=None,
              help="Environment file with MINIKUBE13_* settings. [/etc/default/minikube13d]")
def daemon(env_file: Path | None, **flags: object) -> None:
    """Run the node daemon in the foreground (systemd runs it as minikube13d).

    Every flag can also be set as MINIKUBE13_<FLAG> (e.g. MINIKUBE13_SECURE_PORT) in the
    environment or the environment file; flags win.
    """
    try:
        config = load_config(flags, env_file=env_file)
    except ConfigError as e:
        raise click.ClickException(f"bad configuration: {e}") from None
    from minikube13.daemon.journal import setup_logging
    setup_logging(config.log_level)  # journald when there is one, else key=value on stderr
    from minikube13.daemon.supervisor import StartupError, run_daemon
    try:
        asyncio.run(run_daemon(config))
    except (StartupError, PkiError) as e:
        logging.getLogger(__name__).error("daemon failed to start error=%s", e)
        raise click.ClickException(str(e)) from None
