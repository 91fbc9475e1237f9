"""Apply nftables text in one transaction (`nft -f -`), in this process's netns."""

from __future__ import annotations

import logging
import subprocess

from minikube13.net import NetworkError

log = logging.getLogger(__name__)
NFT = "nft"
TIMEOUT_S = 30


def apply(text: str) -> None:
    try:
        result = subprocess.run([NFT, "-f", "-"], input=text, capture_output=True, text=True,
                                timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NetworkError(f"nft: {e}") from e
    if result.returncode != 0:
        raise NetworkError(f"nft -f failed: {result.stderr.strip()}")


def table_exists(family: str, name: str) -> bool:
    result = subprocess.run([NFT, "list", "table", family, name], capture_output=True,
                            text=True, timeout=TIMEOUT_S, check=False)
    return result.returncode == 0
