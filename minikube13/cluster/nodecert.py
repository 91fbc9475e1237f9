"""Node certificates: a node's key and CSR, and the CA signing `CN=system:node:<name>,
O=system:nodes` client certificates.

This module loads `cryptography`: the daemon never imports it. Servers sign in a child
(`minikube13 certs sign-node`, `minikube13 certs ensure-node`); `minikube13 join` makes the
key and CSR in its own process.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from minikube13.auth.pki import CLOCK_SKEW, LEAF_LIFETIME, RENEW_BEFORE
from minikube13.cluster import ClusterError
from minikube13.cluster.keys import write_private

NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"


class NodeCertError(ClusterError):
    """A CSR, key or certificate that cannot be used."""


@dataclass(frozen=True)
class Signer:
    """The cluster CA, loaded from `<pki-dir>/ca.crt` and `ca.key` (servers only)."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def load(cls, pki_dir: Path) -> Signer:
        try:
            cert = x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes())
            key = serialization.load_pem_private_key((pki_dir / "ca.key").read_bytes(), None)
        except (OSError, ValueError) as e:
            raise NodeCertError(f"cannot load the cluster CA from {pki_dir}: {e}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise NodeCertError(f"{pki_dir / 'ca.key'}: not an ECDSA key")
        return cls(cert, key)

    def sign(self, public_key: ec.EllipticCurvePublicKey, node_name: str,
             now: dt.datetime) -> bytes:
        """A client certificate for system:node:<node_name> over `public_key` (PEM)."""
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, NODES_GROUP),
                             x509.NameAttribute(NameOID.COMMON_NAME, NODE_USER_PREFIX + node_name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + LEAF_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    def sign_csr(self, csr_pem: bytes, node_name: str, now: dt.datetime) -> bytes:
        """Sign the CSR's key for `node_name`; the CSR's own subject is not trusted."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError:
            raise NodeCertError("the csr is not a PEM certificate signing request") from None
        if not csr.is_signature_valid:
            raise NodeCertError("the csr's signature does not verify")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise NodeCertError("the csr must carry an ECDSA (P-256) public key")
        return self.sign(public_key, node_name, now)


def load_or_make_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The node's identity key; made (P-256, 0600) only when there is none."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), None)
    except FileNotFoundError:
        key = ec.generate_private_key(ec.SECP256R1())
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        return key
    except ValueError:
        raise NodeCertError(f"{path}: not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise NodeCertError(f"{path}: not an ECDSA key")
    return key


def make_csr(key: ec.EllipticCurvePrivateKey, node_name: str) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, NODES_GROUP),
                         x509.NameAttribute(NameOID.COMMON_NAME, NODE_USER_PREFIX + node_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def node_cert_usable(cert_path: Path, key_path: Path, ca_pem: bytes, node_name: str,
                     now: dt.datetime) -> bool:
    """Whether the node certificate is for `node_name`, pairs with the key, was issued by
    this CA and is not within RENEW_BEFORE of expiry."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        ca = x509.load_pem_x509_certificate(ca_pem)
        cert.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or names[0].value != NODE_USER_PREFIX + node_name:
        return False
    if cert.public_key() != key.public_key():
        return False
    return cert.not_valid_after_utc - now >= RENEW_BEFORE


def ensure_node_cert(pki_dir: Path, node_name: str, now: dt.datetime) -> bool:
    """A server's own node identity: keep `node.key`, issue `node.crt` when it is missing,
    for another name or near expiry. True when a certificate was issued."""
    cert_path, key_path = pki_dir / "node.crt", pki_dir / "node.key"
    signer = Signer.load(pki_dir)
    ca_pem = signer.cert.public_bytes(serialization.Encoding.PEM)
    if node_cert_usable(cert_path, key_path, ca_pem, node_name, now):
        return False
    key = load_or_make_key(key_path)
    write_private(cert_path, signer.sign(key.public_key(), node_name, now), 0o644)
    return True
