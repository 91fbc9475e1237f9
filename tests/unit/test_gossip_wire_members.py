"""`minikube13 members`: the API route and the table, as a user reads them."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from minikube13.api.members import PATH, add_members_route
from minikube13.cli.members import MEMBERS_PATH, members_table
from minikube13.gossip.core import Member
from minikube13.gossip.messages import NodeState
from minikube13.gossip.shell import member_info
from minikube13.gossip.wire.tags import encode_tags

POOL = [
    {"name": "serf1", "addr": "127.0.0.51", "port": 7946, "status": "alive",
     "tags": {"role": "x"}},
    {"name": "m13-a", "addr": "10.0.0.2", "port": 7946, "status": "failed",
     "tags": {"role": "agent", "zone": "eu-1a"}},
]


async def test_members_route_serves_the_provider_list() -> None:
    app = web.Application()
    add_members_route(app, lambda: POOL)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get(PATH)
        assert resp.status == 200
        assert (await resp.json())["items"] == POOL
    assert PATH == MEMBERS_PATH


def test_members_table_shows_role_zone_and_status() -> None:
    lines = members_table(POOL).splitlines()
    assert lines[0].split() == ["NAME", "ADDRESS", "STATUS", "ROLE", "ZONE"]
    assert lines[1].split() == ["m13-a", "10.0.0.2:7946", "failed", "agent", "eu-1a"]
    assert lines[2].split() == ["serf1", "127.0.0.51:7946", "alive", "x", "<none>"]


def test_member_info_decodes_serf_tags_and_status() -> None:
    member = Member(name="serf1", addr=bytes([10, 0, 0, 7]), port=7946,
                    meta=encode_tags({"role": "server", "zone": "z"}), incarnation=3,
                    state=NodeState.DEAD, state_since=0.0)
    info = member_info(member)
    assert info.to_json() == {"name": "serf1", "addr": "10.0.0.7", "port": 7946,
                              "status": "failed", "tags": {"role": "server", "zone": "z"}}
    left = member_info(member._replace(state=NodeState.LEFT, meta=b"web",
                                       addr=b"\xfd" + b"\x00" * 14 + b"\x01"))
    assert (left.status, left.tags, left.addr) == ("left", {"role": "web"}, "fd00::1")
