"""The e2e tests need root and runc (CI has both): without them they are skipped, nothing
else is. Each part's fixtures live in its own *_support.py module, not here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _missing() -> str:
    if os.geteuid() != 0:
        return "e2e tests need root"
    if shutil.which("runc") is None:
        return "e2e tests need runc"
    return ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    if not reason:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)
