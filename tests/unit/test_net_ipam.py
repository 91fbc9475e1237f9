"""Host-local IPAM: addresses come round-robin from the node's podCIDR (never the network,
gateway or broadcast address), a pod keeps its address across restarts, and no address is
ever held by two pods."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikube13.net import NetworkError
from minikube13.net.ipam import next_free
from minikube13.net.ipam_store import HostLocalIpam


def test_next_free_skips_reserved_and_wraps() -> None:
    assert next_free("10.42.0.0/24", [], None) == "10.42.0.2"
    assert next_free("10.42.0.0/24", ["10.42.0.2"], None) == "10.42.0.3"
    assert next_free("10.42.0.0/24", [], "10.42.0.7") == "10.42.0.8"
    assert next_free("10.42.0.0/24", ["10.42.0.2"], "10.42.0.254") == "10.42.0.3"
    assert next_free("10.42.0.0/30", ["10.42.0.2"], None) is None


@given(st.sets(st.integers(min_value=2, max_value=14)), st.integers(min_value=0, max_value=20))
def test_next_free_is_usable_and_unreserved(taken: set[int], last: int) -> None:
    reserved = {f"10.42.0.{i}" for i in taken}
    got = next_free("10.42.0.0/28", reserved, f"10.42.0.{last}")
    if len(taken) == 13:
        assert got is None
    else:
        assert got is not None and got not in reserved
        assert 2 <= int(got.rsplit(".", 1)[1]) <= 14


def test_allocation_survives_a_restart(tmp_path: Path) -> None:
    """A new IPAM over the same directory (a restarted daemon) gives each pod the address
    it had, and a new pod a different one."""
    first = HostLocalIpam(tmp_path, "10.42.1.0/24")
    a, b = first.allocate("pod-a"), first.allocate("pod-b")
    again = HostLocalIpam(tmp_path, "10.42.1.0/24")
    assert again.allocate("pod-a") == a and again.allocate("pod-b") == b
    c = again.allocate("pod-c")
    assert c not in (a, b)
    assert (tmp_path / a).read_text() == "pod-a"


def test_release_frees_and_is_not_reused_at_once(tmp_path: Path) -> None:
    ipam = HostLocalIpam(tmp_path, "10.42.1.0/24")
    a = ipam.allocate("pod-a")
    assert ipam.release("pod-a") == [a]
    assert ipam.allocate("pod-b") != a
    assert ipam.release("pod-a") == []


def test_release_unknown_keeps_live_pods(tmp_path: Path) -> None:
    ipam = HostLocalIpam(tmp_path, "10.42.1.0/24")
    keep = ipam.allocate("live")
    gone = ipam.allocate("gone")
    assert ipam.release_unknown({"live"}) == [gone]
    assert ipam.allocations() == {keep: "live"}


def test_full_range_is_an_error(tmp_path: Path) -> None:
    ipam = HostLocalIpam(tmp_path, "10.42.1.0/29")  # .2 .. .6
    for i in range(5):
        ipam.allocate(f"p{i}")
    with pytest.raises(NetworkError):
        ipam.allocate("one-too-many")


def test_concurrent_allocations_never_collide(tmp_path: Path) -> None:
    """Two IPAM objects on one directory (two threads, two writers) hand out 100 distinct
    addresses."""
    one, two = HostLocalIpam(tmp_path, "10.42.1.0/24"), HostLocalIpam(tmp_path, "10.42.1.0/24")
    got: list[str] = []
    lock = threading.Lock()

    def work(ipam: HostLocalIpam, prefix: str) -> None:
        for i in range(50):
            address = ipam.allocate(f"{prefix}{i}")
            with lock:
                got.append(address)

    threads = [threading.Thread(target=work, args=(one, "x")),
               threading.Thread(target=work, args=(two, "y"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 100
