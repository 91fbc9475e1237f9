"""stage1's bytecode: compiled when the daemon starts, so no pod waits for a compile."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from minikube13.runtime import stage0
from minikube13.runtime.stage1 import shell


def test_warming_stage1_compiles_its_modules() -> None:
    """Before the first pod, the .pyc of stage1's modules exist beside their sources."""
    stage0.warm_stage1([sys.executable, "-m", "minikube13"])
    cached = importlib.util.cache_from_source(shell.__file__)
    assert Path(cached).is_file()


def test_nothing_to_warm_for_the_frozen_binary(tmp_path: Path) -> None:
    """A frozen binary carries its bytecode: nothing is run."""
    stage0.warm_stage1([str(tmp_path / "absent-binary")])
