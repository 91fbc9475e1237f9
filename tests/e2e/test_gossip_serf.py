"""Interop with HashiCorp Serf: real `serf agent`s and minikube13 nodes in one pool.

Two serf agents (`-encrypt`, memberlist protocol 2, delegate protocol 5) and three
minikube13 gossip nodes on loopback addresses of the test's own 127.x.y.0/24.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from aiohttp import web

from minikube13.api.members import add_members_route
from minikube13.daemon.config import Config
from minikube13.daemon.gossip import start_gossip
from minikube13.gossip.shell import GossipNode

from .gossip_support import FAST, GOSSIP_PORT, Pool, eventually, loopback_base, pool

__all__ = ["loopback_base", "pool"]  # fixtures

SERF_TAGS = {"role": "serf"}
NAMES = {"serf1", "serf2", "m13-a", "m13-b", "m13-c"}


def our_tags(name: str, pool: Pool, host: int) -> dict[str, str]:
    return {"role": "server" if name == "m13-a" else "agent", "zone": "z1", "region": "r1",
            "addr": pool.ip(host), "api": f"https://{pool.ip(host)}:6443",
            "podcidr": f"10.42.{host}.0/24", "id": f"{host:032x}"}


def statuses(node: GossipNode) -> dict[str, str]:
    return {m.name: m.status for m in node.members()}


async def start_mixed_pool(pool: Pool, key: bytes) -> tuple[list[GossipNode], dict[str, dict[str, str]]]:
    serf1 = pool.serf("serf1", 1, key, SERF_TAGS)
    pool.serf("serf2", 2, key, SERF_TAGS, join=f"{serf1.ip}:{GOSSIP_PORT}")
    tags = {name: our_tags(name, pool, host) for name, host in
            (("m13-a", 3), ("m13-b", 4), ("m13-c", 5))}
    nodes = [await pool.node(name, host, key, tags[name])
             for name, host in (("m13-a", 3), ("m13-b", 4), ("m13-c", 5))]

    async def serf_up() -> bool:
        return "serf1" in await serf1.members()
    await eventually(serf_up, 10, "serf1's RPC", None)
    assert await nodes[0].join([serf1.gossip_addr]) == 1
    assert await nodes[1].join([nodes[0].bind]) == 1
    assert await nodes[2].join([(pool.ip(2), GOSSIP_PORT), nodes[1].bind]) >= 1
    return nodes, tags


async def test_serf_and_minikube13_see_each_other(pool: Pool, tmp_path: Path) -> None:
    key = os.urandom(32)
    nodes, tags = await start_mixed_pool(pool, key)
    serf1, serf2 = pool.serfs

    async def serf_sees_all() -> bool:
        for agent in (serf1, serf2):
            seen = await agent.members()
            if set(seen) != NAMES or any(m["status"] != "alive" for m in seen.values()):
                return False
            if any(seen[n]["tags"] != tags[n] for n in tags):
                return False
        return True

    async def explain() -> str:
        return (f"serf1={await serf1.members()}\nours={[n.members() for n in nodes]}\n"
                + pool.serf_logs())

    await eventually(serf_sees_all, 20, "both serf agents listing all five alive with our tags",
                     explain)

    async def we_see_all() -> bool:
        return all(statuses(n) == dict.fromkeys(NAMES, "alive") for n in nodes)
    await eventually(we_see_all, 20, "our nodes listing all five alive", explain)
    serf_view = {m.name: m.tags for m in nodes[0].members()}
    assert serf_view["serf1"] == SERF_TAGS and serf_view["m13-b"] == tags["m13-b"]
    assert await cli_members(nodes[0], tmp_path) == {n: "alive" for n in NAMES}

    # A minikube13 node dies (no leave): Serf marks it failed.
    await nodes[1].close()

    async def serf_sees_failed() -> bool:
        return (await serf1.members()).get("m13-b", {}).get("status") == "failed"
    await eventually(serf_sees_failed, 25, "serf1 listing m13-b as failed", explain)

    # A serf agent dies: our nodes mark it failed.
    serf2.kill()

    async def we_see_serf2_failed() -> bool:
        return all(statuses(n).get("serf2") == "failed" for n in (nodes[0], nodes[2]))
    await eventually(we_see_serf2_failed, 25, "our nodes listing serf2 as failed", explain)
    assert statuses(nodes[0])["serf1"] == "alive"

    # A serf agent leaves gracefully: our nodes mark it left, not failed.
    rc, out = await serf1.rpc("leave")
    assert rc == 0, out

    async def we_see_serf1_left() -> bool:
        return all(statuses(n).get("serf1") == "left" for n in (nodes[0], nodes[2]))
    await eventually(we_see_serf1_left, 10, "our nodes listing serf1 as left", explain)


async def cli_members(node: GossipNode, tmp_path: Path) -> dict[str, str]:
    """`minikube13 members` against a socket serving this node's members route."""
    app = web.Application()
    add_members_route(app, lambda: [m.to_json() for m in node.members()])
    runner = web.AppRunner(app)
    await runner.setup()
    sock = tmp_path / "api.sock"
    await web.UnixSite(runner, str(sock)).start()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "minikube13", "members", "--socket", str(sock),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
    finally:
        await runner.cleanup()
    lines = out.decode().splitlines()
    assert lines[0].split() == ["NAME", "ADDRESS", "STATUS", "ROLE", "ZONE"]
    rows = [line.split() for line in lines[1:]]
    assert ["m13-a", f"{node.bind[0]}:{GOSSIP_PORT}", "alive", "server", "z1"] in rows
    return {row[0]: row[2] for row in rows}


async def test_wrong_key_is_refused_both_ways(pool: Pool) -> None:
    key, wrong = os.urandom(32), os.urandom(16)
    serf1 = pool.serf("serf1", 1, key, SERF_TAGS)
    ours = await pool.node("m13-a", 3, key, our_tags("m13-a", pool, 3))
    intruder = await pool.node("m13-x", 4, wrong, our_tags("m13-x", pool, 4))
    bad_serf = pool.serf("serf-x", 2, wrong, SERF_TAGS)

    async def rpc_up() -> bool:
        return bool(await serf1.members()) and bool(await bad_serf.members())
    await eventually(rpc_up, 10, "both serf agents' RPC")
    # The right key joins; the wrong key is refused in both directions.
    assert await ours.join([serf1.gossip_addr]) == 1
    assert await intruder.join([serf1.gossip_addr]) == 0
    assert await intruder.join([ours.bind]) == 0
    rc, out = await bad_serf.rpc("join", f"{ours.bind[0]}:{GOSSIP_PORT}")
    assert rc != 0, out
    rc, out = await bad_serf.rpc("join", f"{serf1.ip}:{GOSSIP_PORT}")
    assert rc != 0, out

    async def settled() -> bool:
        return set(await serf1.members()) == {"serf1", "m13-a"} and \
            set(statuses(ours)) == {"serf1", "m13-a"}
    await eventually(settled, 10, "serf1 and m13-a in one pool")
    # Gossip keeps flowing for a few probe rounds: still nobody accepts the wrong key.
    await asyncio.sleep(2)
    assert set(await serf1.members()) == {"serf1", "m13-a"}
    assert set(statuses(ours)) == {"serf1", "m13-a"}
    assert set(statuses(intruder)) == {"m13-x"}
    assert set(await bad_serf.members()) == {"serf-x"}


async def test_daemon_start_gossip_joins_serf_started_later(pool: Pool) -> None:
    """start_gossip from a daemon Config: a join list nobody answers yet is retried."""
    key = os.urandom(32)
    config = Config(node_name="m13-d", advertise_address=pool.ip(3), gossip_port=GOSSIP_PORT)
    tags = our_tags("m13-d", pool, 3)
    node = await start_gossip(config, key=key, tags=tags, join=[(pool.ip(1), GOSSIP_PORT)],
                              gossip_config=FAST, retry_interval=0.5)
    pool.nodes.append(node)
    assert node.advertise == (pool.ip(3), GOSSIP_PORT)
    assert set(statuses(node)) == {"m13-d"}
    serf1 = pool.serf("serf1", 1, key, SERF_TAGS)

    async def joined() -> bool:
        seen = await serf1.members()
        return seen.get("m13-d", {}).get("tags") == tags and statuses(node).get("serf1") == "alive"
    await eventually(joined, 15, "m13-d retrying its join into serf1")
