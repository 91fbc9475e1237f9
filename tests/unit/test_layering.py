"""The house rules that imports can break: layers only look down, pure cores do no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "minikube13"

# Lower layers never import higher ones (style.md); peers at one rank do not import each other.
RANK = {
    "model": 0,
    "store": 1,
    "registry": 2,
    "testing": 4,  # fakes and test helpers: above what they fake, imported by no product code
    "controllers": 3,
    "auth": 3,
    "scheduler": 3,
    "gossip": 3,
    "dns": 3,
    "net": 3,
    "runtime": 3,
    "client": 3,
    "api": 4,
    "node": 4,
    "cluster": 4,
    "federation": 4,
    "daemon": 5,
    "cli": 6,
}

# Pure modules take time and randomness as parameters and touch no sockets, files or processes.
PURE = [
    "model",
    "registry/patch.py",
    "controllers/garbage_collector.py",
    "controllers/namespace.py",
    "controllers/node_lifecycle.py",
    "cluster/tokens.py",
    "cluster/liveness.py",
    "controllers/job.py",
    "controllers/cronjob.py",
    "controllers/podgc.py",
    "controllers/replicaset.py",
    "controllers/deployment.py",
    "controllers/deployment_replicasets.py",
    "controllers/deployment_rollout.py",
    "controllers/deployment_status.py",
    "registry/user.py",
    "runtime/images/model.py",
    "runtime/images/reference.py",
    "runtime/images/auth.py",
    "scheduler/core.py",
    "scheduler/filters.py",
    "scheduler/podinfo.py",
    "scheduler/scores.py",
    "scheduler/snapshot.py",
    "runtime/bundle.py",
    "runtime/podenv.py",
    "runtime/etcfiles.py",
    "runtime/volumes.py",
    "runtime/errors.py",
    "runtime/crilog.py",
    "runtime/stage1/supervisor.py",
    "runtime/stage1/backoff.py",
    "runtime/stage1/probing.py",
    "runtime/stage1/messages.py",
    "runtime/streams_logs.py",
    "api/channels.py",
    "node/status.py",
    "node/nodestatus.py",
    "node/pleg.py",
    "node/inputs.py",
    "node/service_env.py",
    "gossip/core.py",
    "gossip/config.py",
    "gossip/members.py",
    "gossip/suspicion.py",
    "gossip/awareness.py",
    "gossip/broadcasts.py",
    "gossip/effects.py",
    "gossip/sim.py",
    "gossip/state.py",
    "gossip/sizes.py",
    "gossip/scenarios.py",
    "registry/allocation.py",
    "controllers/endpoints.py",
    "net/services/inputs.py",
    "net/services/policy.py",
    "net/services/rules.py",
    "cluster/policy.py",
    "controllers/nodeipam.py",
    "net/cidrs.py",
    "net/ipam.py",
    "net/routes.py",
    "net/masq.py",
    "net/hostport.py",
    "gossip/wire/codec.py",
    "gossip/wire/lzw.py",
    "gossip/wire/packets.py",
    "gossip/wire/streams.py",
    "gossip/wire/pushpull.py",
    "gossip/wire/serf_messages.py",
    "gossip/wire/tags.py",
    "dns/names.py",
    "dns/resolver.py",
    "dns/snapshot.py",
    "dns/cache.py",
    "dns/resolvconf.py",
    "dns/upstream.py",
    "dns/message.py",
    "dns/fastpath.py",
]
IMPURE_MODULES = {"asyncio", "socket", "sqlite3", "subprocess", "time", "random", "os", "threading"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _package_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0]


def _modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if len(p.relative_to(PACKAGE).parts) > 1]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_only_import_downwards(path: Path) -> None:
    """A module imports only its own package and packages of lower layers."""
    own = _package_of(path)
    assert own in RANK, f"package {own} has no layer: add it to RANK"
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] != "minikube13" or len(parts) < 2 or parts[1] not in RANK:
            continue
        other = parts[1]
        assert other == own or RANK[other] < RANK[own], f"{own} imports {name}"
        assert other != "testing" or own == "testing", f"{own} imports the fakes in {name}"


def _pure_files() -> list[Path]:
    files: list[Path] = []
    for entry in PURE:
        target = PACKAGE / entry
        files.extend(sorted(target.rglob("*.py")) if target.is_dir() else [target])
    return [f for f in files if f.exists()]


@pytest.mark.parametrize("path", _pure_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_cores_do_no_io(path: Path) -> None:
    """Pure modules import no asyncio, socket, sqlite3, subprocess, time, random, os."""
    bad = {n for n in _imports(path) if n.split(".")[0] in IMPURE_MODULES}
    assert not bad, f"{path.name} imports {sorted(bad)}"
