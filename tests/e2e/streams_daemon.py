"""`minikube13 daemon` with PodStreams wired into the API, for the streams e2e tests.

Run as a script with the daemon's arguments. Until the supervisor passes
`pod_streams=PodStreams(data_dir)` to build_app itself, this wraps build_app to add it; once
the supervisor does, the wrapper changes nothing (it only fills in a missing argument).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import minikube13.api.server as server
from minikube13.cli.main import cli
from minikube13.runtime.streams import PodStreams


def _data_dir(argv: list[str]) -> Path:
    for i, arg in enumerate(argv):
        if arg == "--data-dir":
            return Path(argv[i + 1])
        if arg.startswith("--data-dir="):
            return Path(arg.split("=", 1)[1])
    return Path("/var/lib/minikube13")


_build_app = server.build_app


def _build_app_with_streams(registry: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("pod_streams", PodStreams(_data_dir(sys.argv)))
    return _build_app(registry, **kwargs)


if __name__ == "__main__":
    server.build_app = _build_app_with_streams  # type: ignore[assignment]
    cli(prog_name="minikube13")
