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
def ensure(pki_dir: Path, kubeconfig: Path, server: str, node_name: str,
           bind_address: str) -> None:
    """Create what is missing and renew what is near expiry; keep what is good."""
    # The daemon re-logs these lines with its own timestamp.
    logging.basicConfig(level=logging.INFO, format=CHILD_LOG_FORMAT, stream=sys.stderr)
    from minikube13.auth import pki
    try:
        names = pki.serving_names(node_name, bind_address)
        paths = pki.ensure_pki(pki_dir, names)
        pki.write_admin_kubeconfig(kubeconfig, paths, server)
    except (OSError, ValueError, pki.PkiError) as e:
        raise click.ClickException(str(e)) from None
