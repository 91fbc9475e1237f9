"""The server's side of joining: bootstrap-token authentication and the join answer.

`BootstrapTokenAuthenticator` turns `Authorization: Bearer <id>.<secret>` into the user
`system:bootstrap:<id>` when the Secret kube-system/bootstrap-token-<id> says so.
`JoinService` answers POST /minikube13/v1/join (api/join.py): it signs the node's CSR with
the cluster CA in a child (`minikube13 certs sign-node`: the daemon never loads
`cryptography`) and hands out the CA, the gossip key and where the servers are.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from minikube13.cluster import keys, tokens
from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo
from minikube13.registry import errors
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.user import AUTHENTICATED, UserInfo

log = logging.getLogger(__name__)


def _secrets() -> ResourceInfo:
    info = kinds.find("", "v1", "secrets")
    assert info is not None
    return info


SECRETS = _secrets()
SIGN_TIMEOUT_S = 30.0
EX_DATAERR = 65  # `certs sign-node`: the CSR itself is unusable (the caller's fault)

ServersProvider = Callable[[], Sequence[dict[str, str]]]


class BootstrapTokenAuthenticator:
    """A bearer-token authenticator for bootstrap tokens (authn.with_bearer_tokens)."""

    def __init__(self, registry: ObjectRegistry,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.registry = registry
        self.clock = clock

    async def __call__(self, bearer: str) -> UserInfo | None:
        parsed = tokens.parse_bearer(bearer)
        if parsed is None:
            return None
        token_id, secret_text = parsed
        try:
            result = await self.registry.get(SECRETS, tokens.NAMESPACE,
                                              tokens.secret_name(token_id))
        except StatusError as e:
            if e.code != 404:
                raise
            log.info("bootstrap token refused id=%s why=unknown", token_id)
            return None
        secret = result.object
        if not tokens.authenticates(secret, token_id, secret_text, self.clock()):
            log.info("bootstrap token refused id=%s why=invalid-or-expired", token_id)
            return None
        groups = (tokens.BOOTSTRAPPERS, *tokens.extra_groups(secret), AUTHENTICATED)
        return UserInfo(name=tokens.BOOTSTRAP_USER_PREFIX + token_id, groups=groups)


@dataclass(frozen=True)
class JoinSettings:
    config_dir: Path
    api_port: int
    gossip_port: int
    self_command: tuple[str, ...]  # how to run `minikube13` (the frozen binary or python -m)
    advertise_address: str = ""  # "" = the address the joining node reached us at

    @property
    def pki_dir(self) -> Path:
        return self.config_dir / "pki"


class JoinService:
    """What api/join.py needs: the CA PEM, and the join answer for a node."""

    def __init__(self, settings: JoinSettings, other_servers: ServersProvider | None = None):
        self.settings = settings
        self.other_servers = other_servers

    def ca_pem(self) -> bytes:
        return (self.settings.pki_dir / "ca.crt").read_bytes()

    async def join(self, node_name: str, csr_pem: str, user: UserInfo,
                   local_host: str) -> dict[str, Any]:
        cert = await self._sign(node_name, csr_pem)
        gossip_key = await asyncio.to_thread(keys.ensure_gossip_key, self.settings.config_dir)
        log.info("node joined node=%s by=%s", node_name, user.name)
        return {"certificate": cert, "ca": self.ca_pem().decode(),
                "gossipKey": base64.b64encode(gossip_key).decode(),
                "servers": self.servers(local_host)}

    def servers(self, local_host: str) -> list[dict[str, str]]:
        """This server first (at its advertised address, else where it was reached), then
        the other servers gossip knows."""
        host = _bracketed(self.settings.advertise_address or local_host)
        mine = {"api": f"https://{host}:{self.settings.api_port}",
                "gossip": f"{host}:{self.settings.gossip_port}"}
        found = [mine, *(self.other_servers() if self.other_servers else [])]
        unique: dict[str, dict[str, str]] = {}
        for entry in found:
            unique.setdefault(entry.get("api", ""), dict(entry))
        return list(unique.values())

    async def _sign(self, node_name: str, csr_pem: str) -> str:
        cmd = [*self.settings.self_command, "certs", "sign-node",
               "--pki-dir", str(self.settings.pki_dir), "--node-name", node_name]
        child = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(child.communicate(csr_pem.encode()),
                                              SIGN_TIMEOUT_S)
        except TimeoutError:
            child.kill()
            await child.wait()
            raise errors.internal("signing the node certificate timed out") from None
        message = (err.decode(errors="replace").strip().splitlines() or [""])[-1]
        if child.returncode == EX_DATAERR:
            raise errors.bad_request(message.removeprefix("Error: "))
        if child.returncode != 0:
            log.error("node certificate signing failed node=%s rc=%s error=%s", node_name,
                      child.returncode, message)
            raise errors.internal("signing the node certificate failed")
        return out.decode()


def _bracketed(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host
