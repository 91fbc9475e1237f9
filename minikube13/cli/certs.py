"""`minikube13 certs ensure`: make or renew the cluster CA, serving and admin certificates.

The daemon runs this as a short-lived child at start and every 12 hours, so that only this
process loads `cryptography`; an operator can run it too (say, after adding an address).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

CHILD_LOG_FORMAT = "logger=%(name)s %(message)s"


@click.group()
def certs() -> None:
    """The cluster's certificates (<config-dir>/pki)."""


@certs.command()
@click.option("--pki-dir", type=click.Path(path_type=Path), required=True,
              help="Where the CA and certificates live.")
@click.option("--kubeconfig", type=click.Path(path_type=Path), required=True,
              help="The admin kubeconfig to write.")
@click.option("--server", required=True, help="The API URL the kubeconfig names.")
@click.option("--node-name", required=True, help="This node's name (a serving-cert SAN).")
@click.option("--bind-address", default="0.0.0.0", help="The API's address (a SAN).")
@click.option("--service-ip", "service_ips", multiple=True,
              help="The kubernetes Service's address, which pods use (a SAN); repeatable.")
@click.option("--cluster-domain", default="cluster.local", show_default=True,
              help="kubernetes.default.svc.<domain> is a SAN too.")
def ensure(pki_dir: Path, kubeconfig: Path, server: str, node_name: str,
           bind_address: str, service_ips: tuple[str, ...], cluster_domain: str) -> None:
    """Create what is missing and renew what is near expiry; keep what is good."""
    # The daemon re-logs these lines with its own timestamp.
    logging.basicConfig(level=logging.INFO, format=CHILD_LOG_FORMAT, stream=sys.stderr)
    from minikube13.auth import pki
    try:
        names = pki.serving_names(node_name, bind_address, service_ips=service_ips,
                                  cluster_domain=cluster_domain)
        paths = pki.ensure_pki(pki_dir, names)
        pki.write_admin_kubeconfig(kubeconfig, paths, server)
    except (OSError, ValueError, pki.PkiError) as e:
        raise click.ClickException(str(e)) from None


@certs.command("sign-node")
@click.option("--pki-dir", type=click.Path(path_type=Path), required=True,
              help="Where the cluster CA (ca.crt, ca.key) lives.")
@click.option("--node-name", required=True, help="The node the certificate is for.")
def sign_node(pki_dir: Path, node_name: str) -> None:
    """Sign the CSR on stdin as system:node:NAME (O=system:nodes); the PEM goes to stdout."""
    import datetime as dt

    from minikube13.cluster.nodecert import NodeCertError, Signer
    try:
        signer = Signer.load(pki_dir)
    except NodeCertError as e:
        raise click.ClickException(str(e)) from None
    try:
        cert = signer.sign_csr(sys.stdin.buffer.read(), node_name, dt.datetime.now(dt.UTC))
    except NodeCertError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(65)  # EX_DATAERR: the CSR is unusable, not the CA
    sys.stdout.buffer.write(cert)


@certs.command("ensure-node")
@click.option("--pki-dir", type=click.Path(path_type=Path), required=True,
              help="Where the cluster CA and node.crt/node.key live.")
@click.option("--node-name", required=True, help="This node's name.")
def ensure_node(pki_dir: Path, node_name: str) -> None:
    """A server's own node identity: keep node.key, (re)issue node.crt when needed."""
    import datetime as dt

    logging.basicConfig(level=logging.INFO, format=CHILD_LOG_FORMAT, stream=sys.stderr)
    from minikube13.cluster.nodecert import NodeCertError, ensure_node_cert
    try:
        if ensure_node_cert(pki_dir, node_name, dt.datetime.now(dt.UTC)):
            logging.getLogger(__name__).info("issued node certificate node=%s", node_name)
    except (OSError, NodeCertError) as e:
        raise click.ClickException(str(e)) from None
