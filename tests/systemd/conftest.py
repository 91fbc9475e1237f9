"""Fixtures for the booted-systemd tests: a cached Debian root, booted with nspawn.

They need root, debootstrap, systemd-nspawn and the Debian mirror (the one package
registry tests may reach); without root or the tools they are skipped, nothing else is.
This directory has no __init__.py on purpose: as a package it would be named `systemd`
and shadow systemd-python's `systemd` module in the test process.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from debian_root import missing_tools

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = missing_tools()
    if not reason:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)
