"""Probe and lifecycle-hook handlers: exec (runc exec), httpGet, tcpSocket.

stage1 runs in the pod's network namespace, so httpGet and tcpSocket connect to the pod's
own addresses directly (host defaults to 127.0.0.1, the pod's loopback). They run in worker
threads (no child processes: stage1 reaps every child itself); exec handlers are child
processes the shell tracks.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable
from typing import Any

Result = tuple[bool, str]


def handler_kind(handler: dict[str, Any]) -> str:
    for kind in ("exec", "httpGet", "tcpSocket"):
        if isinstance(handler.get(kind), dict):
            return kind
    return ""


def exec_command(handler: dict[str, Any]) -> list[str]:
    command = handler.get("exec", {}).get("command") or []
    return [str(c) for c in command]


def _port(spec: dict[str, Any]) -> int:
    port = spec.get("port")
    if isinstance(port, int) and 0 < port < 65536:
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    raise ValueError(f"port {port!r} is not a number (named ports are not supported)")


def http_get(handler: dict[str, Any], timeout_s: float) -> Result:
    """The kubelet's rule: a status in [200, 400) succeeds."""
    spec = handler["httpGet"]
    try:
        host, port = spec.get("host") or "127.0.0.1", _port(spec)
        path = spec.get("path") or "/"
        conn: http.client.HTTPConnection
        if str(spec.get("scheme", "HTTP")).upper() == "HTTPS":
            import ssl  # only for HTTPS probes: a slow import
            context = ssl._create_unverified_context()  # the kubelet skips verification too
            conn = http.client.HTTPSConnection(host, port, timeout=timeout_s, context=context)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
        headers = {"User-Agent": "kube-probe/1.3"}
        for header in spec.get("httpHeaders") or []:
            headers[str(header.get("name"))] = str(header.get("value", ""))
        try:
            conn.request("GET", path if path.startswith("/") else "/" + path, headers=headers)
            status = conn.getresponse().status
        finally:
            conn.close()
    except (OSError, ValueError, http.client.HTTPException) as e:
        return False, f"Get {spec.get('path') or '/'}: {e}"
    return 200 <= status < 400, f"HTTP probe failed with statuscode: {status}"


def tcp_socket(handler: dict[str, Any], timeout_s: float) -> Result:
    spec = handler["tcpSocket"]
    try:
        target = (spec.get("host") or "127.0.0.1", _port(spec))
        with socket.create_connection(target, timeout=timeout_s):
            return True, ""
    except (OSError, ValueError) as e:
        return False, f"dial tcp {spec.get('port')}: {e}"


def in_thread(handler: dict[str, Any], timeout_s: float,
              done: Callable[[Result], None]) -> None:
    """Run an httpGet/tcpSocket handler in a daemon thread; `done` gets its result."""
    check = http_get if handler_kind(handler) == "httpGet" else tcp_socket

    def work() -> None:
        try:
            result = check(handler, timeout_s)
        except Exception as e:   # a probe must never take stage1 down
            result = (False, f"probe error: {e}")
        done(result)

    threading.Thread(target=work, name="probe", daemon=True).start()
