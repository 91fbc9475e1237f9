"""stage1 -> daemon: "pod <uid> wrote its state", one unix datagram per change.

stage1 sends its pod's uid to `<data-dir>/stage1-notify.sock` after writing pod or container
state; the daemon's node agent relists that pod at once instead of at its next poll (pod start
latency: Running shows as soon as stage1 recorded it). Best effort both ways: stage1 drops a
datagram nobody receives (no daemon, a full queue, a path too long for a socket address),
and the agent's periodic relist reads every pod dir anyway, so a lost one only costs time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    import socket

log = logging.getLogger(__name__)

SOCKET_NAME = "stage1-notify.sock"
MAX_UID = 256           # pod uids are 36 characters; longer datagrams are cut
MAX_DRAIN = 1024        # datagrams read per wake-up, then the loop serves others


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


class Notifier:
    """stage1's end: never blocks, never raises. (socket is imported at the first send, which
    comes after the first container was started: stage1's start-up time is every pod's.)"""

    def __init__(self, data_dir: Path, uid: str):
        self.address = str(socket_path(data_dir))
        self.message = uid.encode()
        self.sock: socket.socket | None = None

    def send(self) -> None:
        import socket
        try:
            if self.sock is None:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM
                                          | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
            self.sock.sendto(self.message, self.address)
        except OSError:
            pass   # nobody listening or the queue is full: the relist catches up

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Listener:
    """The daemon's end: calls `on_change(uid)` on the event loop for each pod heard of."""

    def __init__(self, data_dir: Path, on_change: Callable[[str], None]):
        self.path = socket_path(data_dir)
        self.on_change = on_change
        self.sock: socket.socket | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> bool:
        """Bind the socket (replacing a stale one); False when that is not possible."""
        import asyncio
        import socket
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM
                             | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        try:
            self.path.unlink(missing_ok=True)
            sock.bind(str(self.path))
        except OSError as e:
            sock.close()
            log.info("stage1 notifications off path=%s error=%s", self.path, e)
            return False
        self.sock, self.loop = sock, asyncio.get_running_loop()
        self.loop.add_reader(sock.fileno(), self._drain)
        return True

    def _drain(self) -> None:
        assert self.sock is not None
        uids: set[str] = set()
        for _ in range(MAX_DRAIN):
            try:
                data = self.sock.recv(MAX_UID)
            except (BlockingIOError, InterruptedError):
                break
            uid = data.decode(errors="replace")
            if uid and "/" not in uid and not uid.startswith("."):   # a pod dir's name
                uids.add(uid)
        for uid in sorted(uids):
            try:
                self.on_change(uid)
            except Exception:
                log.exception("stage1 notification failed uid=%s", uid)

    def close(self) -> None:
        if self.sock is None:
            return
        if self.loop is not None and not self.loop.is_closed():
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self.sock = None
        self.path.unlink(missing_ok=True)
