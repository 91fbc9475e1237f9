"""Interop with HashiCorp Serf: real `serf agent`s and real minikube13 daemons in one pool.

Done-when 2, as a user runs it: a server daemon, two agent daemons joined with a token
(`minikube13 token create`), and two `serf agent -encrypt <the server's gossip.key>`, each
on its own loopback address. `serf members` and `minikube13 members` each list all five
with roles, addresses and zones; a killed daemon turns `failed` for serf, a killed serf
`failed` for us; a serf with another key gets into nobody's list and nobody into its.
Protocol-level checks the daemons cannot show (our node as the one who contacts a
wrong-key serf, a join retried until a peer appears, graceful leaves both ways, a serf
leave whose last Dead message we never get) use in-process gossip nodes.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from minikube13.daemon.config import Config
from minikube13.daemon.gossip import start_gossip
from minikube13.gossip.effects import MemberChanged
from minikube13.gossip.messages import Dead, PushPull
from minikube13.gossip.shell import GossipNode

from .gossip_support import (
    FAST,
    LoopbackDaemon,
    Pool,
    SerfAgent,
    daemon_pool,
    drain,
    eventually,
    free_port_on,
    pool,
    wait_for,
)

__all__ = ["daemon_pool", "pool"]  # fixtures

SERF_TAGS = {"role": "serf", "zone": "z-serf"}
REGION = "r1"
START_TIMEOUT_S = 60.0   # two shared cores: three daemons making certificates
SEE_TIMEOUT_S = 30.0     # LAN gossip defaults: joins spread in a few probe rounds
DETECT_TIMEOUT_S = 40.0  # a probe, then a suspicion timeout of 4-24 s


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


# -- real daemons ------------------------------------------------------------------------

def node_fingerprint(d: LoopbackDaemon) -> str:
    """The `id` tag we expect: sha256 of the node certificate's public key (SPKI DER)."""
    cert = x509.load_pem_x509_certificate((d.config_dir / "pki" / "node.crt").read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()[:32]


def daemon_tags(d: LoopbackDaemon, role: str, zone: str) -> dict[str, str]:
    return {"role": role, "api": d.url, "addr": d.address, "id": node_fingerprint(d),
            "zone": zone, "region": REGION}


def cli_members(d: LoopbackDaemon) -> dict[str, list[str]]:
    """`minikube13 members` against the daemon's socket: name -> [address, status, role, zone]."""
    lines = d.cli("members").stdout.splitlines()
    assert lines[0].split() == ["NAME", "ADDRESS", "STATUS", "ROLE", "ZONE"], lines
    return {row[0]: row[1:] for row in (line.split() for line in lines[1:])}


def serf_sees(agent: SerfAgent, want: dict[str, tuple[str, dict[str, str]]]) -> bool:
    """`serf members` lists exactly `want` (name -> (address, tags)), all alive."""
    seen = agent.members_now()
    return set(seen) == set(want) and all(
        seen[n]["status"] == "alive" and seen[n]["addr"] == addr and seen[n]["tags"] == tags
        for n, (addr, tags) in want.items())


def status_in(members: dict[str, Any], name: str) -> str:
    entry = members.get(name)
    if entry is None:
        return "(absent)"
    return str(entry["status"] if isinstance(entry, dict) else entry[1])


def test_daemons_and_serf_agents_share_one_pool(daemon_pool: Pool) -> None:
    p = daemon_pool
    server = p.daemon("m13-srv", 1, ["--zone", "z-a", "--region", REGION])
    server.start(START_TIMEOUT_S)
    token = server.create_token()
    joining = ["--server", server.server_address, "--token", token, "--region", REGION]
    ag1 = p.daemon("m13-ag1", 2, [*joining, "--zone", "z-a"])
    ag2 = p.daemon("m13-ag2", 3, [*joining, "--zone", "z-b"])
    for agent in (ag1, ag2):
        agent.spawn()
    for agent in (ag1, ag2):
        agent.wait_ready(START_TIMEOUT_S)

    key = server.gossip_key_b64()  # the file holds base64 text of a 32-byte key
    assert len(base64.b64decode(key, validate=True)) == 32
    serf1 = p.serf("serf1", 4, key, SERF_TAGS, join=server.gossip_address)
    serf2 = p.serf("serf2", 5, key, SERF_TAGS, join=ag1.gossip_address)
    intruder = p.serf("serf-x", 6, b64(os.urandom(32)), SERF_TAGS,
                      join=server.gossip_address)

    want = {d.name: (d.gossip_address, daemon_tags(d, role, zone)) for d, role, zone in
            ((server, "server", "z-a"), (ag1, "agent", "z-a"), (ag2, "agent", "z-b"))}
    want |= {s.name: (f"{s.ip}:{s.port}", SERF_TAGS) for s in (serf1, serf2)}

    def explain() -> str:
        return (f"serf1: {serf1.members_now()}\nserf-x: {intruder.members_now()}\n"
                f"ours: {server.cli('members', check=False).stdout}\n{p.logs()}")

    wait_for(lambda: serf_sees(serf1, want) and serf_sees(serf2, want), SEE_TIMEOUT_S,
             "both serf agents listing all five alive with our tags", explain)
    rows = {n: [addr, "alive", tags["role"], tags["zone"]] for n, (addr, tags) in want.items()}
    wait_for(lambda: cli_members(server) == rows == cli_members(ag1), SEE_TIMEOUT_S,
             "`minikube13 members` on the server and an agent listing all five alive",
             explain)

    # The wrong key, both ways: serf-x cannot join the pool through us or through serf.
    for target in (server.gossip_address, f"{serf1.ip}:{serf1.port}"):
        rc, out = intruder.rpc_now("join", target)
        assert rc != 0, f"serf-x joined {target} with another key: {out}"

    # A daemon dies (kill -9, no leave): serf marks it failed (and so do we).
    ag2.kill9()
    wait_for(lambda: status_in(serf1.members_now(), "m13-ag2") == "failed", DETECT_TIMEOUT_S,
             "serf1 listing m13-ag2 as failed", explain)
    wait_for(lambda: status_in(cli_members(server), "m13-ag2") == "failed", DETECT_TIMEOUT_S,
             "`minikube13 members` listing m13-ag2 as failed", explain)

    # A serf agent dies: `minikube13 members` marks it failed.
    serf2.kill()
    wait_for(lambda: status_in(cli_members(server), "serf2") == "failed", DETECT_TIMEOUT_S,
             "`minikube13 members` listing serf2 as failed", explain)
    assert status_in(cli_members(server), "serf1") == "alive"

    # serf-x retried its join every second all along: still nobody took it, nor it anybody.
    assert "serf-x" not in cli_members(server) and "serf-x" not in cli_members(ag1)
    assert "serf-x" not in serf1.members_now()
    assert set(intruder.members_now()) == {"serf-x"}


# -- the protocol level, with in-process gossip nodes ------------------------------------

def statuses(node: GossipNode) -> dict[str, str]:
    return {m.name: m.status for m in node.members()}


def our_tags(pool: Pool, host: int) -> dict[str, str]:
    return {"role": "agent", "addr": pool.ip(host), "api": f"https://{pool.ip(host)}:6443",
            "id": f"{host:032x}"}


async def test_wrong_key_is_refused_both_ways(pool: Pool) -> None:
    """Our node as the one who initiates, toward a serf and toward us, with either key."""
    key, wrong = os.urandom(32), os.urandom(16)
    serf1 = pool.serf("serf1", 1, b64(key), SERF_TAGS)
    ours = await pool.node("m13-a", 3, key, our_tags(pool, 3))
    intruder = await pool.node("m13-x", 4, wrong, our_tags(pool, 4))
    bad_serf = pool.serf("serf-x", 2, b64(wrong), SERF_TAGS)

    async def rpc_up() -> bool:
        return bool(await serf1.members()) and bool(await bad_serf.members())
    await eventually(rpc_up, 10, "both serf agents' RPC")
    assert await ours.join([serf1.gossip_addr]) == 1
    assert await intruder.join([serf1.gossip_addr]) == 0
    assert await intruder.join([ours.bind]) == 0
    assert await ours.join([bad_serf.gossip_addr]) == 0
    for target in (ours.bind, serf1.gossip_addr):
        rc, out = await bad_serf.rpc("join", f"{target[0]}:{target[1]}")
        assert rc != 0, out

    async def settled() -> bool:
        return set(await serf1.members()) == {"serf1", "m13-a"} and \
            set(statuses(ours)) == {"serf1", "m13-a"}
    await eventually(settled, 10, "serf1 and m13-a in one pool")
    assert set(statuses(intruder)) == {"m13-x"}
    assert set(await bad_serf.members()) == {"serf-x"}


async def test_daemon_start_gossip_joins_serf_started_later(pool: Pool) -> None:
    """start_gossip from a daemon Config: a join list nobody answers yet is retried."""
    key = os.urandom(32)
    serf1 = pool.serf("serf1", 1, b64(key))  # not started yet
    config = Config(node_name="m13-d", advertise_address=pool.ip(3),
                    gossip_port=free_port_on(pool.ip(3)))
    tags = our_tags(pool, 3)
    node = await start_gossip(config, key=key, tags=tags, join=[serf1.gossip_addr],
                              gossip_config=FAST, retry_interval=0.5)
    pool.nodes.append(node)
    assert node.advertise == (pool.ip(3), config.gossip_port)
    assert set(statuses(node)) == {"m13-d"}
    serf1.start(SERF_TAGS)

    async def joined() -> bool:
        seen = await serf1.members()
        return seen.get("m13-d", {}).get("tags") == tags and statuses(node).get("serf1") == "alive"
    await eventually(joined, 15, "m13-d retrying its join into serf1")

    # A serf agent that leaves gracefully is `left`, not failed. (Only here: in the daemon
    # test other members are dead by then, and serf's "local" profile sends its last
    # message just twice, to random members, dead ones included.)
    rc, out = await serf1.rpc("leave")
    assert rc == 0, out

    async def left() -> bool:
        return statuses(node).get("serf1") == "left"
    await eventually(left, 10, "m13-d listing serf1 as left")


async def serf_pair_and_us(pool: Pool) -> tuple[SerfAgent, SerfAgent, GossipNode]:
    """serf1, serf2 and our m13-a in one pool, everyone listing everyone alive."""
    key = os.urandom(32)
    serf1 = pool.serf("serf1", 1, b64(key), SERF_TAGS)
    serf2 = pool.serf("serf2", 2, b64(key), SERF_TAGS)
    ours = await pool.node("m13-a", 3, key, our_tags(pool, 3))

    async def rpc_up() -> bool:
        return bool(await serf1.members()) and bool(await serf2.members())
    await eventually(rpc_up, 10, "both serf agents' RPC")
    assert await ours.join([serf1.gossip_addr, serf2.gossip_addr]) == 2
    everyone = {"serf1", "serf2", "m13-a"}

    async def settled() -> bool:
        views = [await serf1.members(), await serf2.members()]
        return all(set(v) == everyone and all(m["status"] == "alive" for m in v.values())
                   for v in views) and statuses(ours) == dict.fromkeys(everyone, "alive")
    await eventually(settled, 15, "serf1, serf2 and m13-a all alive in one pool")
    return serf1, serf2, ours


def kinds_for(events: list[MemberChanged], name: str) -> list[str]:
    return [e.kind for e in events if e.member.name == name]


async def test_a_serf_leave_is_left_even_when_its_dead_message_never_reaches_us(
        pool: Pool) -> None:
    """Serf gossips a leave intent before memberlist's Dead about itself. Here that Dead
    never reaches us (our node drops every Dead, and the push/pulls that would carry the
    same news), so we learn of the death only by probing: the intent alone must make it
    `left`, as serf2 lists it, never `failed`."""
    serf1, serf2, ours = await serf_pair_and_us(pool)
    events = ours.subscribe()
    ours.drop_incoming_for_tests = frozenset({Dead, PushPull})
    rc, out = await serf1.rpc("leave")
    assert rc == 0, out

    async def left() -> bool:
        return statuses(ours).get("serf1") == "left"

    async def explain() -> str:
        return f"ours: {statuses(ours)}\nserf2: {await serf2.members()}\n{pool.logs()}"
    await eventually(left, 20, "m13-a listing serf1 as left", explain)
    assert kinds_for(drain(events), "serf1") == ["leave"]
    assert (await serf2.members())["serf1"]["status"] == "left"


async def test_our_leave_is_left_for_serf_agents(pool: Pool) -> None:
    """Our node leaves (and stops): both serf agents list it `left`, never `failed` on the
    way (our leave intent goes out before our Dead)."""
    serf1, serf2, ours = await serf_pair_and_us(pool)
    await ours.leave()
    await ours.close()

    async def left() -> bool:
        views = [await serf1.members(), await serf2.members()]
        return all(status_in(v, "m13-a") == "left" for v in views)

    async def explain() -> str:
        return f"serf1: {await serf1.members()}\nserf2: {await serf2.members()}\n{pool.logs()}"
    await eventually(left, 15, "serf1 and serf2 listing m13-a as left", explain)
    for agent in (serf1, serf2):
        assert "EventMemberFailed: m13-a" not in agent.log.read_text(errors="replace")
