"""The `minikube13 stage1 POD_DIR` click command, for `--help` and the console script.

`python -m minikube13 stage1 DIR` does not come here: `minikube13/__main__.py` calls
`entry.main` directly so stage1 starts without importing click or the API.
"""

from __future__ import annotations

import click


@click.command("stage1")
@click.argument("pod_dir", type=click.Path(exists=True, file_okay=False))
def stage1(pod_dir: str) -> None:
    """Run a pod (PID 1 of its namespaces; stage0 starts it, not users)."""
    from minikube13.runtime.stage1.entry import main

    raise SystemExit(main([pod_dir]))
