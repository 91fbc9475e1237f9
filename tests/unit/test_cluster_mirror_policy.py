"""An agent's copy rules (cluster.policy): which kinds it keeps, where a request to its API
goes, how a copied object carries the servers' version, and when a server's object replaces
the copy's."""

from __future__ import annotations

from typing import Any

import pytest

from minikube13.cluster import policy
from minikube13.cluster.credentials import api_url
from minikube13.cluster.policy import UPSTREAM_RV, Way

Object = dict[str, Any]


def pod(rv: str = "", phase: str = "Running", **annotations: str) -> Object:
    meta: Object = {"name": "p", "namespace": "default", "uid": "u1"}
    if rv:
        meta["resourceVersion"] = rv
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "status": {"phase": phase}}


def test_the_copy_keeps_what_pods_and_the_node_services_need() -> None:
    assert policy.KEPT_STORAGES == {"namespaces", "nodes", "services", "endpoints", "secrets",
                                    "configmaps", "serviceaccounts", "pods",
                                    "networkpolicies"}
    secrets = next(k for k in policy.KEPT if k.plural == "secrets")
    assert secrets.selector == "type!=bootstrap.kubernetes.io/token"
    assert next(k for k in policy.KEPT if k.plural == "pods").path == "/api/v1/pods"
    policies = next(k for k in policy.KEPT if k.plural == "networkpolicies")
    assert policies.path == "/apis/networking.k8s.io/v1/networkpolicies"


@pytest.mark.parametrize("online", [True, False])
def test_reads_of_kept_kinds_are_always_local(online: bool) -> None:
    for verb in ("get", "list", "watch"):
        assert policy.route("configmaps", verb, "", online) is Way.LOCAL
        assert policy.route("pods", verb, "", online) is Way.LOCAL
        assert policy.route("nodes", verb, "status", online) is Way.LOCAL


def test_logs_and_exec_are_this_nodes_own() -> None:
    for sub in ("log", "exec", "attach"):
        assert policy.route("pods", "get", sub, True) is Way.LOCAL
        assert policy.route("pods", "create", sub, False) is Way.LOCAL


def test_writes_are_forwarded_or_refused_while_cut_off() -> None:
    for verb in ("create", "update", "patch", "delete", "deletecollection"):
        assert policy.route("configmaps", verb, "", True) is Way.FORWARD
        assert policy.route("configmaps", verb, "", False) is Way.UNAVAILABLE
    assert policy.route("deployments", "list", "", True) is Way.FORWARD
    assert policy.route("deployments", "list", "", False) is Way.UNAVAILABLE
    assert policy.route("deployments", "get", "scale", False) is Way.UNAVAILABLE


def test_the_refusal_says_what_happened_and_what_still_works() -> None:
    text = policy.unavailable_message("deployments", "create")
    assert "cut off from the servers" in text and "cannot write deployments" in text
    assert "configmaps" in text


def test_a_copied_object_shows_the_servers_version_and_no_annotation() -> None:
    stored = policy.stamped(pod("ignored", other="x"), "4711")
    assert "resourceVersion" not in stored["metadata"]
    assert stored["metadata"]["annotations"] == {"other": "x", UPSTREAM_RV: "4711"}
    read = dict(stored, metadata=dict(stored["metadata"], resourceVersion="12"))
    shown = policy.served_view(read)
    assert shown["metadata"]["resourceVersion"] == "4711"
    assert shown["metadata"]["annotations"] == {"other": "x"}
    assert policy.unstamped(read)["metadata"]["resourceVersion"] == "12"


def test_an_object_made_locally_keeps_its_local_version() -> None:
    local = pod("12")
    assert policy.served_view(local) == local
    alone = policy.stamped(pod(), "7")
    assert "annotations" not in policy.unstamped(alone)["metadata"]


def test_a_server_object_replaces_the_copy_unless_the_copy_is_newer_or_the_same() -> None:
    held = dict(policy.stamped(pod(), "10"))
    held["metadata"] = dict(held["metadata"], resourceVersion="3")  # as read from the store
    assert not policy.should_write(held, policy.stamped(pod(), "10"))  # same content
    assert not policy.should_write(held, policy.stamped(pod(phase="Pending"), "9"))  # older
    assert policy.should_write(held, policy.stamped(pod(phase="Failed"), "11"))
    assert policy.should_write(None, policy.stamped(pod(), "1"))


def test_a_copy_changed_while_cut_off_is_replaced_by_the_servers_same_version() -> None:
    """The node agent wrote status into the copy while cut off; the relist brings the
    server's object of the same version: it wins, so the agent reports its status again."""
    changed = policy.stamped(pod(phase="Failed"), "10")
    assert policy.should_write(changed, policy.stamped(pod(phase="Running"), "10"))


def test_a_local_pin_becomes_the_servers_version_or_a_conflict() -> None:
    held = policy.stamped(pod(), "4711")
    assert policy.translate_pin("12", 12, held) == "4711"
    assert policy.translate_pin("11", 12, held) is None  # stale: re-read
    assert policy.translate_pin("", 12, held) == ""
    assert policy.translate_pin("12", None, None) == ""
    assert policy.translate_pin("12", 12, pod()) == ""  # made locally: no server version


def test_what_vanished_from_the_servers_is_dropped() -> None:
    assert policy.vanished({"/a", "/b", "/c"}, {"/b", "/d"}) == {"/a", "/c"}


@pytest.mark.parametrize(("given", "url"), [
    ("10.0.0.1", "https://10.0.0.1:6443"),
    ("10.0.0.1:7443", "https://10.0.0.1:7443"),
    ("https://srv.example:6443/", "https://srv.example:6443"),
    ("[fd00::1]", "https://[fd00::1]:6443"),
    ("[fd00::1]:9443", "https://[fd00::1]:9443"),
])
def test_a_server_address_becomes_its_api_url(given: str, url: str) -> None:
    assert api_url(given) == url


def test_live_servers_in_the_gossip_pool_are_where_an_agent_may_fail_over() -> None:
    members = [("alive", {"role": "server", "api": "https://10.0.0.1:6443/"}),
               ("failed", {"role": "server", "api": "https://10.0.0.2:6443"}),
               ("alive", {"role": "agent", "api": "https://10.0.0.3:6443"}),
               ("alive", {"role": "server"}),
               ("alive", {})]
    assert policy.server_urls_from_members(members) == ["https://10.0.0.1:6443"]
