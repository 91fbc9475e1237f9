"""sd_notify over $NOTIFY_SOCKET, and the watchdog pings systemd expects.

The protocol is one datagram of `KEY=VALUE` lines to a Unix socket, so a plain socket does
it; systemd-python is not needed for this. Without $NOTIFY_SOCKET every call is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

RETRY_S = 0.05  # how soon to try again when the listener's queue is full
STOPPING_WAIT_S = 1.0


class Notifier:
    def __init__(self, address: str | None, watchdog_usec: int | None = None):
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._pending: dict[str, str] = {}  # fields not yet delivered, oldest first
        self._retry: asyncio.TimerHandle | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        watchdog: int | None = None
        pid = env.get("WATCHDOG_PID")
        # WATCHDOG_PID names the process systemd expects pings from; a child must not ping.
        if env.get("WATCHDOG_USEC") and (not pid or pid == str(os.getpid())):
            try:
                watchdog = int(env["WATCHDOG_USEC"]) or None
            except ValueError:
                log.warning("ignoring bad WATCHDOG_USEC value=%r", env["WATCHDOG_USEC"])
        return cls(address, watchdog)

    def notify(self, **fields: str) -> bool:
        """Send `READY="1"`-style fields; False when there is no one to tell.

        The send never blocks the event loop: when the listener's queue is full (a Unix
        datagram socket holds only net.unix.max_dgram_qlen messages), the fields wait,
        merged with any later ones, and go out on a retry from the loop.
        """
        if not self.address:
            return False
        self._pending.update(fields)
        return self._flush()

    def _flush(self) -> bool:
        self._retry = None
        if not self._pending:
            return True
        payload = "\n".join(f"{k}={v}" for k, v in self._pending.items()).encode()
        addr = self.address or ""
        if addr.startswith("@"):  # abstract namespace socket
            addr = "\0" + addr[1:]
        try:
            with socket.socket(socket.AF_UNIX,
                               socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) as s:
                s.connect(addr)
                s.send(payload)
        except BlockingIOError:
            self._retry_later()
            return True
        except OSError as e:
            self._pending.clear()
            log.warning("sd_notify failed socket=%s error=%s", self.address, e)
            return False
        self._pending.clear()
        return True

    def _retry_later(self) -> None:
        if self._retry is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the next notify() carries the fields
            return
        self._retry = loop.call_later(RETRY_S, self._flush)

    def ready(self, status: str) -> None:
        self.notify(READY="1", STATUS=status)

    def status(self, status: str) -> None:
        self.notify(STATUS=status)

    def stopping(self, status: str = "shutting down") -> None:
        """STOPPING=1; the process is about to end, so wait (briefly) for room to say it."""
        self.notify(STOPPING="1", STATUS=status)
        deadline = time.monotonic() + STOPPING_WAIT_S
        while self._pending and time.monotonic() < deadline:
            time.sleep(RETRY_S)
            self._flush()

    async def watchdog(self) -> None:
        """Ping WATCHDOG=1 at half the interval systemd asked for, until cancelled."""
        if not self.address or not self.watchdog_usec:
            return
        interval = self.watchdog_usec / 2_000_000
        log.info("watchdog enabled interval_s=%.1f", interval)
        while True:
            self.notify(WATCHDOG="1")
            await asyncio.sleep(interval)
