"""The daemon's sd_notify sender: a listener that does not read must not stall the daemon."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from minikube13.daemon.notify import Notifier


def _listener(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.setblocking(False)
    return s


def _drain(s: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(s.recv(4096).decode())
        except BlockingIOError:
            return out


def test_a_full_listener_queue_does_not_block_and_nothing_is_lost(tmp_path: Path) -> None:
    """systemd (or a test) busy elsewhere: the queue fills; sends return at once and the
    fields that did not fit arrive, merged, once there is room."""
    path = tmp_path / "notify.sock"
    with _listener(path) as listener:
        async def scenario() -> list[str]:
            n = Notifier(str(path))
            started = time.monotonic()
            for i in range(200):
                n.status(f"step {i}")
            n.ready("serving")
            assert time.monotonic() - started < 1.0
            got = _drain(listener)
            await asyncio.sleep(0.2)  # the retry runs from the loop
            return got + _drain(listener)

        messages = asyncio.run(scenario())
    text = "\n".join(messages)
    assert "STATUS=step 0" in text
    assert messages[-1].splitlines() == ["STATUS=serving", "READY=1"]


def test_stopping_waits_briefly_for_room(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with _listener(path) as listener:
        n = Notifier(str(path))
        for i in range(50):
            n.status(f"step {i}")
        n.stopping()   # queue still full: waits up to a second, then gives up
        assert "STOPPING=1" not in "\n".join(_drain(listener))
        n.stopping()   # now there is room
        assert "STOPPING=1" in "\n".join(_drain(listener))


def test_no_socket_means_no_op() -> None:
    assert Notifier(None).notify(READY="1") is False
