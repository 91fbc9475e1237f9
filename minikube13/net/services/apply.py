"""Swap the rendered ruleset in with one `nft -f -` transaction (in this process's netns).

Deleting and redefining the table would forget the ClientIP affinity sets' entries, so a
swap that keeps an affinity set (same name: same service port and backend) re-adds the
entries the old one held, with their remaining lifetime, in the same transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from minikube13.net.services import ServiceProxyError
from minikube13.net.services.rules import TABLE

log = logging.getLogger(__name__)

NFT = "nft"
TIMEOUT_S = 60.0
_AFFINITY_SET = re.compile(r"^\tset (aff\.\S+) \{$", re.MULTILINE)


async def run_nft(args: list[str], stdin: str = "", nft: Sequence[str] = (NFT,)) -> str:
    """Run nft (`nft` may be a prefixed command, e.g. `ip netns exec NS nft`); its stdout,
    or ServiceProxyError with its stderr."""
    try:
        child = await asyncio.create_subprocess_exec(
            *nft, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
    except OSError as e:
        raise ServiceProxyError(f"nft: {e}") from e
    try:
        out, err = await asyncio.wait_for(child.communicate(stdin.encode()), TIMEOUT_S)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise ServiceProxyError(f"nft {' '.join(args)} took over {TIMEOUT_S:.0f}s") from None
    if child.returncode != 0:
        raise ServiceProxyError(f"nft {' '.join(args)} failed: {err.decode().strip()[:2000]}")
    return out.decode()


async def apply_ruleset(text: str, nft: Sequence[str] = (NFT,)) -> None:
    """Apply `text` (a render_ruleset script) atomically, keeping affinity entries."""
    kept = _AFFINITY_SET.findall(text)
    carry = ""
    if kept:
        try:
            listing = json.loads(await run_nft(["-j", "list", "sets", "inet"], nft=nft) or "{}")
        except (ServiceProxyError, ValueError) as e:
            log.warning("affinity entries not carried over error=%s", e)
        else:
            carry = affinity_carryover(listing, set(kept))
    await run_nft(["-f", "-"], text + carry, nft)


def affinity_carryover(listing: dict[str, Any], keep: set[str]) -> str:
    """`add element` lines re-creating the entries of the affinity sets named in `keep`
    from an `nft -j list sets` document (pure)."""
    lines: list[str] = []
    for item in listing.get("nftables") or []:
        found = item.get("set") if isinstance(item, dict) else None
        if not isinstance(found, dict) or found.get("table") != TABLE or \
                found.get("family") != "inet" or found.get("name") not in keep:
            continue
        entries = []
        for elem in found.get("elem") or []:
            inner = elem.get("elem") if isinstance(elem, dict) else None
            if isinstance(inner, dict) and isinstance(inner.get("val"), str):
                expires = max(1, int(inner.get("expires") or 0))
                entries.append(f"{inner['val']} expires {expires}s")
        if entries:
            lines.append(f"add element inet {TABLE} {found['name']} "
                         f"{{ {', '.join(entries)} }}\n")
    return "".join(lines)
