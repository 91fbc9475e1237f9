"""The cluster CA, serving and admin certificates, and the admin kubeconfig."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from minikube13.auth import pki

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def _names(node: str = "node-a", extra_ip: str = "192.0.2.10") -> pki.ServingNames:
    return pki.ServingNames(
        dns=("localhost", "node-a-host", node),
        ips=(ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"),
             ipaddress.ip_address(extra_ip)),
    )


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _sans(path: Path) -> tuple[set[str], set[str]]:
    san = _cert(path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (set(san.get_values_for_type(x509.DNSName)),
            {str(ip) for ip in san.get_values_for_type(x509.IPAddress)})


def test_first_start_makes_ca_serving_and_admin_certificates(tmp_path: Path) -> None:
    """A fresh config dir gets an ECDSA P-256 CA for 10 years and 1-year leaves."""
    paths = pki.ensure_pki(tmp_path / "pki", _names(), now=NOW)
    ca = _cert(paths.ca_cert)
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(ca.public_key().curve, ec.SECP256R1)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert (ca.not_valid_after_utc - NOW).days >= 3649
    server = _cert(paths.server_cert)
    server.verify_directly_issued_by(ca)
    assert 364 <= (server.not_valid_after_utc - NOW).days <= 365
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    dns, ips = _sans(paths.server_cert)
    assert {"localhost", "node-a-host", "node-a"} <= dns
    assert {"127.0.0.1", "::1", "192.0.2.10"} <= ips


def test_admin_certificate_is_in_system_masters(tmp_path: Path) -> None:
    """The admin client certificate says CN=admin, O=system:masters, client auth only."""
    paths = pki.ensure_pki(tmp_path / "pki", _names(), now=NOW)
    admin = _cert(paths.admin_cert)
    admin.verify_directly_issued_by(_cert(paths.ca_cert))
    subject = admin.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "admin"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    eku = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_private_keys_are_readable_by_owner_only(tmp_path: Path) -> None:
    """Every key file is mode 0600 and the pki directory 0700."""
    paths = pki.ensure_pki(tmp_path / "pki", _names(), now=NOW)
    for key in (paths.ca_key, paths.server_key, paths.admin_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.root.stat().st_mode) == 0o700


def test_restart_reuses_every_certificate(tmp_path: Path) -> None:
    """A second start a day later keeps the CA, serving and admin files byte for byte."""
    paths = pki.ensure_pki(tmp_path / "pki", _names(), now=NOW)
    before = {p: p.read_bytes() for p in paths.root.iterdir()}
    pki.ensure_pki(tmp_path / "pki", _names(), now=NOW + dt.timedelta(days=1))
    assert {p: p.read_bytes() for p in paths.root.iterdir()} == before


def test_leaves_are_renewed_within_30_days_of_expiry(tmp_path: Path) -> None:
    """After 340 days the serving and admin certificates are new; the CA is the same."""
    paths = pki.ensure_pki(tmp_path / "pki", _names(), now=NOW)
    ca, server, admin = (p.read_bytes() for p in (paths.ca_cert, paths.server_cert,
                                                  paths.admin_cert))
    later = NOW + dt.timedelta(days=340)
    pki.ensure_pki(tmp_path / "pki", _names(), now=later)
    assert paths.ca_cert.read_bytes() == ca
    assert paths.server_cert.read_bytes() != server
    assert paths.admin_cert.read_bytes() != admin
    assert (_cert(paths.server_cert).not_valid_after_utc - later).days >= 364


def test_a_new_address_or_node_name_reissues_the_serving_certificate(tmp_path: Path) -> None:
    """When the node gets another name or address, the serving certificate covers it."""
    paths = pki.ensure_pki(tmp_path / "pki", _names(), now=NOW)
    admin = paths.admin_cert.read_bytes()
    pki.ensure_pki(tmp_path / "pki", _names(node="node-b", extra_ip="192.0.2.77"), now=NOW)
    dns, ips = _sans(paths.server_cert)
    assert "node-b" in dns and "192.0.2.77" in ips
    assert paths.admin_cert.read_bytes() == admin


def test_missing_ca_key_is_an_error_not_a_new_ca(tmp_path: Path) -> None:
    """Losing ca.key stops the daemon with advice instead of silently minting a new CA."""
    paths = pki.ensure_pki(tmp_path / "pki", _names(), now=NOW)
    paths.ca_key.unlink()
    with pytest.raises(pki.PkiError, match="ca.key is missing"):
        pki.ensure_pki(tmp_path / "pki", _names(), now=NOW)


def test_serving_names_cover_loopback_hostname_and_bind_address() -> None:
    """The serving names include localhost, 127.0.0.1, ::1, the node and the bind address."""
    names = pki.serving_names("my-node", "127.0.0.2")
    assert {"localhost", "my-node"} <= set(names.dns)
    assert {"127.0.0.1", "::1", "127.0.0.2"} <= {str(ip) for ip in names.ips}


def test_admin_kubeconfig_embeds_the_certificates(tmp_path: Path) -> None:
    """admin.kubeconfig (0600) names the server and context minikube13 with embedded data."""
    paths = pki.ensure_pki(tmp_path / "pki", _names(), now=NOW)
    kc = tmp_path / "admin.kubeconfig"
    assert pki.write_admin_kubeconfig(kc, paths, "https://127.0.0.1:6443")
    assert not pki.write_admin_kubeconfig(kc, paths, "https://127.0.0.1:6443")
    assert stat.S_IMODE(kc.stat().st_mode) == 0o600
    doc = yaml.safe_load(kc.read_text())
    assert doc["current-context"] == "minikube13"
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == paths.ca_cert.read_bytes()
    user = doc["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]) == paths.admin_cert.read_bytes()
    assert base64.b64decode(user["client-key-data"]) == paths.admin_key.read_bytes()
