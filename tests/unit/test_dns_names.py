"""Names of the cluster zone: reverse names, dashed addresses, normalising (pure)."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from minikube13.dns import names

addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)


@given(addresses)
def test_reverse_name_round_trips(ip: str) -> None:
    """Every address has one reverse name, and that name gives the address back."""
    reverse = names.reverse_name(ip)
    assert reverse.endswith(".in-addr.arpa" if "." in ip else ".ip6.arpa")
    assert names.ip_from_reverse(reverse) == ip


@given(addresses)
def test_dashed_round_trips(ip: str) -> None:
    """10.42.0.5 <-> 10-42-0-5 (and fd00::1 <-> fd00--1), a valid DNS label either way."""
    label = names.dashed(ip)
    assert names.ip_from_dashed(label) == ip
    assert "." not in label and ":" not in label


def test_known_shapes() -> None:
    assert names.reverse_name("10.43.0.10") == "10.0.43.10.in-addr.arpa"
    assert names.ip_from_reverse("10.0.43.10.in-addr.arpa") == "10.43.0.10"
    assert names.dashed("10.42.1.7") == "10-42-1-7"
    assert names.ip_from_dashed("10-42-1-7") == "10.42.1.7"


def test_partial_or_odd_reverse_names_are_no_address() -> None:
    """A /24 zone name or junk labels are not one address."""
    for name in ("0.43.10.in-addr.arpa", "x.0.43.10.in-addr.arpa", "in-addr.arpa",
                 "300.0.43.10.in-addr.arpa", "010.0.43.10.in-addr.arpa", "1.ip6.arpa"):
        assert names.ip_from_reverse(name) is None, name


def test_dashed_rejects_non_addresses() -> None:
    for label in ("web", "10-42-0", "10-42-0-256", "a-b-c-d", "web-0"):
        assert names.ip_from_dashed(label) is None, label


def test_normalize_and_within() -> None:
    assert names.normalize("Web.NS1.svc.Cluster.Local.") == "web.ns1.svc.cluster.local"
    assert names.is_within("a.cluster.local", "cluster.local")
    assert names.is_within("cluster.local", "cluster.local")
    assert not names.is_within("acluster.local", "cluster.local")
    assert names.relative("a.b.cluster.local", "cluster.local") == ["a", "b"]
    assert list(names.ancestors("a.b.cluster.local", "cluster.local")) == [
        "a.b.cluster.local", "b.cluster.local", "cluster.local"]


def test_pod_identity_spec_wins_over_annotations() -> None:
    ann = {names.HOSTNAME_ANNOTATION: "H1", names.SUBDOMAIN_ANNOTATION: "s1"}
    assert names.pod_identity({"metadata": {"annotations": ann}}) == ("h1", "s1")
    pod = {"metadata": {"annotations": ann}, "spec": {"hostname": "h2", "subdomain": "s2"}}
    assert names.pod_identity(pod) == ("h2", "s2")
    assert names.pod_identity({"metadata": {"name": "p"}}) == ("", "")


@given(st.ip_addresses(v=4))
def test_reverse_v4_matches_the_standard_library(ip: ipaddress.IPv4Address) -> None:
    assert names.reverse_name(str(ip)) == ip.reverse_pointer


@given(addresses)
def test_canonical_ip_agrees_with_the_standard_library(ip: str) -> None:
    assert names.canonical_ip(ip) == ip
    assert names.canonical_ip(ip.upper()) == ip


def test_canonical_ip_rejects_what_is_no_address() -> None:
    for text in ("", "None", "10.42.0", "10.42.0.256", "10.042.0.1", "1.2.3.4.5", "web",
                 "١.٢.٣.٤", "::g"):
        assert names.canonical_ip(text) is None, text
