"""Who is calling: a TLS client certificate or the peer of the local Unix socket.

The TLS layer has already checked any client certificate against the cluster CA (the
listener's context uses CERT_OPTIONAL with our CA), so a certificate that reaches us is
trusted: its CN is the user and its O attributes are the groups, as in Kubernetes.
On the Unix socket the kernel tells us the peer's uid (SO_PEERCRED): root is the admin.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from minikube13.registry.user import AUTHENTICATED, MASTERS, UserInfo

log = logging.getLogger(__name__)

LOCAL_ADMIN = UserInfo(name="admin", groups=(MASTERS, AUTHENTICATED), uid="0")
BOOTSTRAPPERS = "system:bootstrappers"  # bootstrap-token users: until RBAC, join only
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid

# A bearer token -> its user, or None when this authenticator does not know it.
TokenAuthenticator = Callable[[str], Awaitable[UserInfo | None]]


def authenticate(request: web.BaseRequest) -> UserInfo | None:
    """The request's user, or None when it proved no identity (the API answers 401)."""
    transport = request.transport
    if transport is None:
        return None
    if transport.get_extra_info("sslcontext") is not None:
        return user_from_peercert(transport.get_extra_info("peercert"))
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family == socket.AF_UNIX:
        return user_from_uid(peer_uid(sock))
    return None


def with_bearer_tokens(*authenticators: TokenAuthenticator
                       ) -> Callable[[web.BaseRequest], Awaitable[UserInfo | None]]:
    """`authenticate`, then `Authorization: Bearer` tokens tried on each authenticator in
    turn (a certificate or the socket's peer wins, as in the apiserver's union)."""
    async def authenticate_request(request: web.BaseRequest) -> UserInfo | None:
        user = authenticate(request)
        token = bearer_token(request)
        if user is not None or token is None:
            return user
        for token_authenticator in authenticators:
            user = await token_authenticator(token)
            if user is not None:
                return user
        return None

    return authenticate_request


def bearer_token(request: web.BaseRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def user_from_peercert(peercert: dict[str, Any] | None) -> UserInfo | None:
    """The user named by a verified certificate (ssl.getpeercert() form), or None."""
    if not peercert:
        return None
    names: list[str] = []
    groups: list[str] = []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                names.append(value)
            elif key == "organizationName":
                groups.append(value)
    if not names or not names[0]:
        return None
    return UserInfo(name=names[0], groups=(*groups, AUTHENTICATED))


def user_from_uid(uid: int | None) -> UserInfo | None:
    """Root, and the daemon's own user (who owns its data anyway), are the admin."""
    if uid is None:
        return None
    if uid in (0, os.geteuid()):
        return LOCAL_ADMIN
    return UserInfo(name=f"system:unix:{uid}", groups=(AUTHENTICATED,), uid=str(uid))


def peer_uid(sock: Any) -> int | None:
    """The uid of the process at the other end of a connected Unix socket."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except OSError as e:
        log.warning("cannot read peer credentials error=%s", e)
        return None
    _pid, uid, _gid = _UCRED.unpack(raw)
    return int(uid)
