"""A small synchronous client for the API over the local Unix socket (what the CLI uses).

Errors come out as one exception, ClientError, whose message is fit to show a user: the
daemon's Status message for an API error, or how to reach the daemon when it is not there.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from minikube13.model.kinds import ResourceInfo

DEFAULT_SOCKET = Path("/run/minikube13/api.sock")
TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")


class ClientError(Exception):
    """A request failed; `str()` is the message for the user."""

    def __init__(self, message: str, code: int = 0, reason: str = ""):
        super().__init__(message)
        self.code = code
        self.reason = reason


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


@dataclass(frozen=True)
class Response:
    status: int
    body: Any  # decoded JSON


def resource_path(info: ResourceInfo, namespace: str = "", name: str = "",
                  subresource: str = "") -> str:
    """The REST path of a collection or object, e.g. /apis/apps/v1/namespaces/ns/deployments/x."""
    base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    parts = [base]
    if info.namespaced and namespace:
        parts.append(f"namespaces/{namespace}")
    parts.append(info.plural)
    if name:
        parts.append(name)
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


class SocketClient:
    def __init__(self, path: Path = DEFAULT_SOCKET, timeout: float = 30.0):
        self.path = path
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None, *,
                query: dict[str, str] | None = None, accept: str = "application/json",
                content_type: str = "application/json") -> Response:
        """Send one request; raise ClientError for transport errors and non-2xx answers."""
        url = path + ("?" + urlencode(query) if query else "")
        headers = {"Accept": accept, "User-Agent": "minikube13-cli"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        conn = _UnixConnection(self.path, self.timeout)
        try:
            conn.request(method, url, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise ClientError(f"cannot reach minikube13d at {self.path}: {e.strerror} "
                              "(is the daemon running? `make up` starts it)") from None
        except PermissionError:
            raise ClientError(f"permission denied on {self.path}: the local API socket is "
                              "for root (try sudo)") from None
        except (OSError, http.client.HTTPException) as e:
            raise ClientError(f"request to minikube13d at {self.path} failed: {e}") from None
        finally:
            conn.close()
        decoded = _decode(raw)
        if resp.status >= 400:
            raise _status_error(resp.status, decoded)
        return Response(resp.status, decoded)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw).body


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _status_error(code: int, body: Any) -> ClientError:
    if isinstance(body, dict) and body.get("kind") == "Status":
        message = str(body.get("message") or body.get("reason") or f"HTTP {code}")
        causes = (body.get("details") or {}).get("causes") or []
        lines = [f"  {c.get('field', '')}: {c.get('message', '')}".rstrip(": ")
                 for c in causes if isinstance(c, dict)]
        if lines and not all(line.strip() in message for line in lines):
            message += "\n" + "\n".join(lines)
        return ClientError(message, code, str(body.get("reason", "")))
    text = body if isinstance(body, str) and body.strip() else f"HTTP {code}"
    return ClientError(f"the server answered {code}: {text.strip()[:500]}", code)
