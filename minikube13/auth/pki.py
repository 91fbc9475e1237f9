"""The cluster's certificates: a CA made at first start, a serving and an admin certificate.

Everything lives under `<config-dir>/pki/` (keys 0600). A restart reuses what is there; the
serving and admin certificates are issued again when they come within 30 days of expiry, when
the CA did not issue them, or (serving) when a name the server answers to is missing from its
SANs (a new address, another node name).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import logging
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from minikube13.auth.files import write_atomic
from minikube13.auth.tls import PkiError, PkiPaths
from minikube13.registry.user import MASTERS

log = logging.getLogger(__name__)

CA_LIFETIME = dt.timedelta(days=3650)
LEAF_LIFETIME = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)
CLOCK_SKEW = dt.timedelta(minutes=5)  # backdate notBefore so a slightly slow peer accepts it
CLUSTER_NAME = "minikube13"
ADMIN_USER = "admin"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_T = TypeVar("_T")


@dataclass(frozen=True)
class ServingNames:
    dns: tuple[str, ...]
    ips: tuple[IPAddress, ...]


@dataclass(frozen=True)
class Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def serving_names(node_name: str, bind_address: str, service_ips: Sequence[str] = (),
                  cluster_domain: str = "") -> ServingNames:
    """Every name and address a client may use to reach this server (pods: the
    `kubernetes` Service's address and names)."""
    dns = _unique(["localhost", socket.gethostname().lower(), node_name, "kubernetes",
                   "kubernetes.default", "kubernetes.default.svc",
                   f"kubernetes.default.svc.{cluster_domain}" if cluster_domain else ""])
    ips: list[IPAddress] = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    ips += [ipaddress.ip_address(ip) for ip in service_ips]
    bind = ipaddress.ip_address(bind_address)
    if not bind.is_unspecified:
        ips.append(bind)
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                try:  # link-local IPv6 comes with a %scope suffix: not usable in a cert
                    ips.append(ipaddress.ip_address(a.address.split("%")[0]))
                except ValueError:
                    continue
    return ServingNames(dns=tuple(d for d in dns if d), ips=tuple(_unique(ips)))


def ensure_pki(root: Path, names: ServingNames,
               now: dt.datetime | None = None) -> PkiPaths:
    """Make or reuse the CA, serving and admin certificates under `root`."""
    now = now or dt.datetime.now(dt.UTC)
    paths = PkiPaths(root)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    ca = _ensure_ca(paths, now)
    if _needs_serving_cert(paths, ca, names, now):
        _issue(paths.server_cert, paths.server_key, ca, now,
               subject=_name(CLUSTER_NAME + "-apiserver"), usage=ExtendedKeyUsageOID.SERVER_AUTH,
               sans=[*(x509.DNSName(d) for d in names.dns),
                     *(x509.IPAddress(ip) for ip in names.ips)])
        log.info("issued serving certificate dns=%s ips=%s", ",".join(names.dns),
                 ",".join(map(str, names.ips)))
    if _needs_leaf(paths.admin_cert, paths.admin_key, ca, now):
        _issue(paths.admin_cert, paths.admin_key, ca, now,
               subject=_name(ADMIN_USER, MASTERS), usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        log.info("issued admin client certificate user=%s group=%s", ADMIN_USER, MASTERS)
    return paths


def write_admin_kubeconfig(path: Path, paths: PkiPaths, server: str) -> bool:
    """Write the admin kubeconfig (certificates embedded); True when it changed."""
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": CLUSTER_NAME, "cluster": {
            "server": server, "certificate-authority-data": b64(paths.ca_cert)}}],
        "users": [{"name": ADMIN_USER, "user": {
            "client-certificate-data": b64(paths.admin_cert),
            "client-key-data": b64(paths.admin_key)}}],
        "contexts": [{"name": CLUSTER_NAME, "context": {
            "cluster": CLUSTER_NAME, "user": ADMIN_USER}}],
        "current-context": CLUSTER_NAME,
    }
    data = yaml.safe_dump(doc, sort_keys=False).encode()
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, data)
    log.info("wrote admin kubeconfig path=%s server=%s", path, server)
    return True


# -- the CA ---------------------------------------------------------------------------------

def _ensure_ca(paths: PkiPaths, now: dt.datetime) -> Issuer:
    have_cert, have_key = paths.ca_cert.exists(), paths.ca_key.exists()
    if have_cert != have_key:
        missing = paths.ca_key if have_cert else paths.ca_cert
        raise PkiError(f"{missing} is missing but its pair exists; restore it, or remove "
                       f"{paths.root} to make a new cluster CA (every client must then "
                       "get a new kubeconfig)")
    if have_cert:
        ca = Issuer(_load_cert(paths.ca_cert), _load_key(paths.ca_key))
        if ca.cert.not_valid_after_utc - now < RENEW_BEFORE:
            log.warning("cluster CA expires soon not_after=%s", ca.cert.not_valid_after_utc)
        return ca
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(CLUSTER_NAME + "-ca")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        _builder(subject, subject, key.public_key(), now, CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(paths.ca_key, _key_pem(key))
    _write_public(paths.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
    # Leaves of an earlier CA are useless now: make sure they are issued again.
    for leaf in (paths.server_cert, paths.admin_cert):
        leaf.unlink(missing_ok=True)
    log.info("created cluster CA path=%s", paths.ca_cert)
    return Issuer(cert, key)


# -- leaves ---------------------------------------------------------------------------------

def _needs_leaf(cert_path: Path, key_path: Path, ca: Issuer, now: dt.datetime) -> bool:
    try:
        cert = _load_cert(cert_path)
        key = _load_key(key_path)
    except (OSError, ValueError, PkiError):
        return True
    if cert.public_key() != key.public_key():
        return True
    try:
        cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature):
        return True
    return cert.not_valid_after_utc - now < RENEW_BEFORE


def _needs_serving_cert(paths: PkiPaths, ca: Issuer, names: ServingNames,
                        now: dt.datetime) -> bool:
    if _needs_leaf(paths.server_cert, paths.server_key, ca, now):
        return True
    san = _load_cert(paths.server_cert).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    have_dns = set(san.get_values_for_type(x509.DNSName))
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    return not (set(names.dns) <= have_dns and set(names.ips) <= have_ips)


def _issue(cert_path: Path, key_path: Path, ca: Issuer, now: dt.datetime, *,
           subject: x509.Name, usage: x509.ObjectIdentifier,
           sans: list[x509.GeneralName] | None = None) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(subject, ca.cert.subject, key.public_key(), now, LEAF_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca.key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    # Key first: a cert without its key on disk is re-issued next start, not half-used.
    _write_private(key_path, _key_pem(key))
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))


# -- helpers --------------------------------------------------------------------------------

def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
             now: dt.datetime, lifetime: dt.timedelta) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + lifetime)
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False,
    )


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{path}: not an ECDSA private key")
    return key


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    write_atomic(path, data, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    write_atomic(path, data, 0o644)


def _unique(items: Iterable[_T]) -> list[_T]:
    return list(dict.fromkeys(items))
