"""An agent's link to the servers, assembled: the upstream client, the local copy and its
mirror, the registry for the node agent and the middleware for the agent's API.

Start-up: with a copy made before (the marker file says one full sync happened), the agent
starts from it at once, giving the servers `online_wait_s` to answer first, so a node that
reboots while cut off runs its pods again within seconds. Without one (the first start),
it waits for the first full sync: there is nothing to run before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
import time
from collections.abc import Sequence
from pathlib import Path

from minikube13.cluster.agent_registry import AgentRegistry
from minikube13.cluster.copy import LocalCopy
from minikube13.cluster.forward import AgentAPI, Classify, CopyRegistry
from minikube13.cluster.mirror import Mirror
from minikube13.cluster.upstream import Upstream
from minikube13.store.interface import Store

log = logging.getLogger(__name__)

FIRST_SYNC_LOG_S = 10.0


class AgentLink:
    def __init__(self, store: Store, urls: Sequence[str], ssl_context: ssl.SSLContext,
                 marker: Path, *, probe_s: float = 1.0,
                 probe_timeout_s: float = 2.5):
        self.marker = marker
        self.upstream = Upstream(urls, ssl_context, probe_s=probe_s,
                                 probe_timeout_s=probe_timeout_s)
        self.copy = LocalCopy(store)
        self.mirror = Mirror(self.upstream, self.copy)
        self.registry = AgentRegistry(store, self.upstream, self.copy)
        self.served = CopyRegistry(store)
        self.mirror.on_synced(self._mark_synced)

    @property
    def has_copy(self) -> bool:
        return self.marker.exists()

    async def start(self) -> None:
        await self.upstream.start()
        self.mirror.start()

    async def close(self) -> None:
        await self.mirror.close()
        await self.upstream.close()

    async def wait_usable(self, online_wait_s: float = 2.0) -> None:
        """Return when the node agent may start: the copy synced now, or made before and
        the servers silent for `online_wait_s`."""
        if self.has_copy:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(online_wait_s):
                    await self.mirror.synced.wait()
            if not self.mirror.synced.is_set():
                log.warning("starting from the local copy: the servers do not answer yet "
                            "servers=%s", ",".join(self.upstream.servers))
            return
        while not self.mirror.synced.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FIRST_SYNC_LOG_S):
                    await self.mirror.synced.wait()
            if not self.mirror.synced.is_set():
                log.warning("waiting for the first copy from the servers servers=%s online=%s",
                            ",".join(self.upstream.servers), self.upstream.online)

    def api(self, classify: Classify) -> AgentAPI:
        return AgentAPI(self.upstream, classify)

    async def _mark_synced(self) -> None:
        if self.marker.exists():
            return
        tmp = self.marker.with_name(self.marker.name + ".tmp")
        doc = {"server": self.upstream.url, "synced_at": time.time()}
        await asyncio.to_thread(_write_file, tmp, json.dumps(doc).encode())
        os.replace(tmp, self.marker)
        log.info("first copy complete marker=%s", self.marker)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
