"""stage1 tells the daemon it wrote its pod's state: a datagram per change, best effort."""

from __future__ import annotations

import asyncio
from pathlib import Path

from minikube13.runtime import notify


async def test_a_notification_reaches_the_listener_with_the_pod_uid(tmp_path: Path) -> None:
    """The agent hears the uid of each pod whose stage1 wrote, once per wake-up."""
    heard: list[str] = []
    listener = notify.Listener(tmp_path, heard.append)
    assert listener.start()
    sender = notify.Notifier(tmp_path, "0b6c9c1e-uid")
    sender.send()
    sender.send()
    notify.Notifier(tmp_path, "../escape").send()   # not a pod dir's name: ignored
    for _ in range(100):
        if heard:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.02)
    assert heard == ["0b6c9c1e-uid"]
    sender.close()
    listener.close()
    assert not notify.socket_path(tmp_path).exists()


def test_sending_with_no_daemon_listening_is_harmless(tmp_path: Path) -> None:
    """No daemon (or it restarts): stage1 goes on, the relist will find the change."""
    sender = notify.Notifier(tmp_path, "u1")
    sender.send()
    notify.socket_path(tmp_path).touch()   # a stale file, not a socket
    sender.send()
    sender.close()


async def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    """A daemon that crashed left its socket behind: the next one binds anyway."""
    notify.socket_path(tmp_path).touch()
    listener = notify.Listener(tmp_path, lambda uid: None)
    assert listener.start()
    listener.close()
