"""pods/log, pods/exec, pods/attach in process: the aiohttp handlers over an in-memory
registry and a pod dir on disk, exec through a stand-in `runc` that runs the command on the
host (so no root is needed); the channel protocol is spoken by aiohttp's client."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from minikube13.api.server import build_app
from minikube13.model import kinds
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import WriteOptions
from minikube13.registry.user import UserInfo
from minikube13.runtime import crilog
from minikube13.runtime.poddir import ContainerState, PodDir
from minikube13.runtime.streams import PodStreams
from minikube13.testing.memory_store import MemoryStore

# `runc --root R exec --pid-file P [--tty] ID CMD...`, minus the container.
FAKE_RUNC = """#!/bin/sh
shift 3; pidfile=$2; shift 2
[ "$1" = --tty ] && shift
shift
echo $$ > "$pidfile"
exec "$@"
"""
V5 = "v5.channel.k8s.io"


@dataclass
class Rig:
    client: TestClient
    data_dir: Path
    uid: str

    def pod_dir(self) -> PodDir:
        return PodDir.of(self.data_dir, self.uid)

    async def ws(self, sub: str, query: str, protocol: str = V5
                 ) -> aiohttp.ClientWebSocketResponse:
        return await self.client.ws_connect(
            f"/api/v1/namespaces/default/pods/web/{sub}?{query}", protocols=(protocol,))


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = MemoryStore()
    await store.start()
    registry = ObjectRegistry(store)
    await registry.ensure_namespace("default")
    pods = kinds.find("", "v1", "pods")
    assert pods is not None
    made = await registry.create(pods, "default", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}},
        WriteOptions())
    uid = made.object["metadata"]["uid"]
    runc = tmp_path / "runc"
    runc.write_text(FAKE_RUNC)
    runc.chmod(runc.stat().st_mode | stat.S_IXUSR)
    streams = PodStreams(tmp_path, runc=str(runc), poll_s=0.02)
    pod_dir = PodDir.of(tmp_path, uid)
    pod_dir.write_container_state(ContainerState("c", False, f"{uid}-c", "running"))
    app = build_app(registry, authenticate=lambda r: UserInfo("admin"), pod_streams=streams)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Rig(client, tmp_path, uid)
    finally:
        await client.close()
        await store.close()


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> dict[int, bytes]:
    """Every channel's bytes until the server closes."""
    got: dict[int, bytes] = {}
    async for msg in ws:
        data = msg.data if msg.type == aiohttp.WSMsgType.BINARY else msg.data.encode()
        got[data[0]] = got.get(data[0], b"") + data[1:]
    return got


async def test_exec_streams_stdin_out_err_and_the_exit_code(rig: Rig) -> None:
    """v5: stdin then CLOSE reaches the command; stdout, stderr, then the exit Status."""
    ws = await rig.ws("exec", "command=sh&command=-c&command=cat;echo oops>%262;exit%203"
                              "&stdin=true&stdout=true&stderr=true")
    assert ws.protocol == V5
    await ws.send_bytes(b"\x00hello ")
    await ws.send_bytes(b"\x00world")
    await ws.send_bytes(b"\xff\x00")
    got = await _drain(ws)
    assert got[1] == b"hello world"
    assert got[2] == b"oops\n"
    status = json.loads(got[3])
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


async def test_base64_protocol_and_success(rig: Rig) -> None:
    """The base64 variant: text messages, channel digit first; exit 0 is Success."""
    ws = await rig.ws("exec", "command=echo&command=hi&stdout=true", "v4.base64.channel.k8s.io")
    texts = [msg.data async for msg in ws]
    assert "1aGkK" in texts  # "1" + base64("hi\n")
    assert json.loads(__import__("base64").b64decode(texts[-1][1:])) == \
        {"metadata": {}, "status": "Success"}


async def test_tty_resize_reaches_the_terminal(rig: Rig) -> None:
    """With tty=true the command has a terminal whose size follows the resize channel."""
    ws = await rig.ws("exec", "command=sh&command=-c&command=read x; stty size"
                              "&stdin=true&stdout=true&tty=true")
    await ws.send_bytes(b'\x04{"Width":101,"Height":37}\n')
    await asyncio.sleep(0.2)
    await ws.send_bytes(b"\x00go\n")  # no container terminal here: raw, so no CR -> NL
    got = await _drain(ws)
    assert b"37 101" in got[1]
    assert json.loads(got[3])["status"] == "Success"


async def test_a_client_going_away_kills_the_command(rig: Rig, tmp_path: Path) -> None:
    """Closing the WebSocket mid-command ends the command."""
    script = f"echo $$>{tmp_path}/pid; exec sleep 300"
    ws = await rig.ws("exec", f"command=sh&command=-c&command={script}&stdout=true")
    pid_file = tmp_path / "pid"
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.05)
    pid = int(pid_file.read_text())
    await ws.close()
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)
    pytest.fail("the command outlived its client")


async def test_errors_before_the_upgrade(rig: Rig) -> None:
    """Bad requests are Status errors; a stopped container is the kubelet's plain 500."""
    base = "/api/v1/namespaces/default/pods/web/exec"
    resp = await rig.client.get(f"{base}?command=ls&stdout=true")
    assert resp.status == 400 and "Upgrade request required" in (await resp.json())["message"]
    resp = await rig.client.get(f"{base}?stdout=true", headers={"Upgrade": "websocket"})
    assert (await resp.json())["message"] == \
        "you must specify at least one command for the container"
    resp = await rig.client.get(f"{base}?command=ls&container=x&stdout=true")
    assert (await resp.json())["message"] == "container x is not valid for pod web"
    resp = await rig.client.get("/api/v1/namespaces/default/pods/nope/exec?command=ls")
    assert resp.status == 404
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await rig.ws("exec", "command=ls&stdout=true", "SPDY/3.1")
    rig.pod_dir().write_container_state(ContainerState("c", False, "x", "terminated"))
    resp = await rig.client.post(f"{base}?command=ls&stdout=true")
    assert (resp.status, await resp.text()) == (500, 'container not found ("c")')


async def test_log_endpoint(rig: Rig) -> None:
    """GET .../log streams the file; bad options are a 422 PodLogOptions."""
    path = rig.pod_dir().log_path("c", 0)
    path.parent.mkdir(parents=True)
    path.write_bytes(crilog.encode(1, "stdout", b"a") + crilog.encode(2, "stderr", b"b"))
    base = "/api/v1/namespaces/default/pods/web/log"
    resp = await rig.client.get(f"{base}?tailLines=1&timestamps=true")
    assert (resp.status, await resp.text()) == (200, "1970-01-01T00:00:00.000000002Z b\n")
    resp = await rig.client.get(f"{base}?tailLines=-1&limitBytes=0")
    body = await resp.json()
    assert resp.status == 422
    assert body["message"] == ('PodLogOptions "web" is invalid: [tailLines: Invalid value: -1: '
                               'must be greater than or equal to 0, limitBytes: Invalid value: '
                               '0: must be greater than 0]')
    resp = await rig.client.post(base)
    assert resp.status == 405


async def test_attach_streams_new_output_by_stream(rig: Rig) -> None:
    """attach: lines written after it opened, each on its own stream, until the run ends."""
    path = rig.pod_dir().log_path("c", 0)
    path.parent.mkdir(parents=True)
    path.write_bytes(crilog.encode(1, "stdout", b"old"))
    ws = await rig.ws("attach", "stdout=true&stderr=true")
    await asyncio.sleep(0.1)
    with open(path, "ab") as f:
        f.write(crilog.encode(2, "stdout", b"out") + crilog.encode(3, "stderr", b"err"))
    await asyncio.sleep(0.1)
    rig.pod_dir().write_container_state(ContainerState("c", False, "x", "terminated"))
    got = await _drain(ws)
    assert (got[1], got[2]) == (b"out\n", b"err\n")
    assert json.loads(got[3])["status"] == "Success"
