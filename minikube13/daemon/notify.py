"""sd_notify over $NOTIFY_SOCKET, and the watchdog pings systemd expects.

The protocol is one datagram of `KEY=VALUE` lines to a Unix socket, so a plain socket does
it; systemd-python is not needed for this. Without $NOTIFY_SOCKET every call is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None, watchdog_usec: int | None = None):
        self.address = address
        self.watchdog_usec = watchdog_usec

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
        """Send `READY="1"`-style fields; False when there is no one to tell."""
        if not self.address:
            return False
        payload = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        addr = self.address
        if addr.startswith("@"):  # abstract namespace socket
            addr = "\0" + addr[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(addr)
                s.sendall(payload)
        except OSError as e:
            log.warning("sd_notify failed socket=%s error=%s", self.address, e)
            return False
        return True

    def ready(self, status: str) -> None:
        self.notify(READY="1", STATUS=status)

    def status(self, status: str) -> None:
        self.notify(STATUS=status)

    def stopping(self, status: str = "shutting down") -> None:
        self.notify(STOPPING="1", STATUS=status)

    async def watchdog(self) -> None:
        """Ping WATCHDOG=1 at half the interval systemd asked for, until cancelled."""
        if not self.address or not self.watchdog_usec:
            return
        interval = self.watchdog_usec / 2_000_000
        log.info("watchdog enabled interval_s=%.1f", interval)
        while True:
            self.notify(WATCHDOG="1")
            await asyncio.sleep(interval)
