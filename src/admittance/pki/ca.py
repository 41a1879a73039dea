"""The device CA: generating one, importing an operator's, issuing client certificates and signing CRLs.

Pure functions over `cryptography` objects; the service stores and audits what they produce.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_KEY_TYPES = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072")
CaKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
BACKDATE = timedelta(minutes=5)  # not_before of issued certificates: tolerates devices whose clock is a bit late
SERIAL_BITS = 159  # positive, at most 20 octets (RFC 5280 4.1.2.2)


class CaError(ValueError):
    """An operator-supplied CA cannot be used; the message says why (never shows key material)."""


@dataclass(frozen=True)
class CaMaterial:
    """An issuing CA: its certificate, its private key and its issuers up to the root (may be empty)."""

    certificate: x509.Certificate
    key: CaKey
    chain: tuple[x509.Certificate, ...] = ()

    def __repr__(self) -> str:  # the key must never reach a log line
        return f"CaMaterial({self.certificate.subject.rfc4514_string()})"

    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def fingerprints(certificate: x509.Certificate) -> tuple[str, str]:
    """(sha1, sha256) of the DER, lower-case hex without separators."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest(), hashlib.sha256(der).hexdigest()


def is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca


def _hash_for(key: CaKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def generate_key(key_type: str) -> CaKey:
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type in ("rsa-2048", "rsa-3072"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    raise CaError(f"ca_key_type must be one of {', '.join(CA_KEY_TYPES)}")


def generate_ca(common_name: str, key_type: str, validity_days: int, now: datetime) -> CaMaterial:
    """A self-signed root: CA, path length 0 (it signs device certificates only), keyCertSign and cRLSign."""
    key = generate_key(key_type)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(random_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, _hash_for(key))
    )
    return CaMaterial(certificate, key)


def random_serial() -> int:
    while True:
        serial = secrets.randbits(SERIAL_BITS)
        if serial > 0:
            return serial


def same_public_key(a: CertificatePublicKeyTypes, b: CertificatePublicKeyTypes) -> bool:
    form = serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(serialization.Encoding.DER, form) == b.public_bytes(serialization.Encoding.DER, form)


def signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def order_chain(issuing: x509.Certificate, others: Sequence[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """The issuers of `issuing`, nearest first, as far as `others` reach; CaError on a certificate
    that is not on that path."""
    remaining = [cert for cert in others if cert != issuing]
    ordered: list[x509.Certificate] = []
    current = issuing
    while remaining and current.issuer != current.subject:
        parent = next((cert for cert in remaining if signed_by(current, cert)), None)
        if parent is None:
            break
        ordered.append(parent)
        remaining.remove(parent)
        current = parent
    if remaining:
        raise CaError("ca_chain_file holds certificates that are not issuers of the CA certificate")
    return tuple(ordered)


def load_ca(certificate_pem: bytes, key_pem: bytes, password: str | None, chain_pem: bytes | None = None) -> CaMaterial:
    """An operator's CA from PEM: the certificate must be a CA allowed to sign certificates, the key
    must be its key, and the chain (optional) its issuers. CaError otherwise."""
    try:
        certificates = x509.load_pem_x509_certificates(certificate_pem)
    except ValueError:
        raise CaError("ca_certificate_file holds no PEM certificate") from None
    certificate = certificates[0]
    extra = certificates[1:]
    try:
        key = serialization.load_pem_private_key(key_pem, password.encode() if password else None)
    except TypeError:
        raise CaError("ca_key_file is encrypted: set ca_key_password (or it is not encrypted: unset it)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise CaError("ca_key_file holds no readable PEM private key (or ca_key_password is wrong)") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CaError("the CA key must be an EC or RSA key")
    if not same_public_key(key.public_key(), certificate.public_key()):
        raise CaError("ca_key_file does not hold the key of the certificate in ca_certificate_file")
    if not is_ca(certificate):
        raise CaError("the certificate in ca_certificate_file is not a CA certificate (basicConstraints CA:TRUE)")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.key_cert_sign and usage.crl_sign):
            raise CaError("the CA certificate's keyUsage must allow keyCertSign and cRLSign")
    except x509.ExtensionNotFound:
        pass  # no keyUsage: every use allowed
    chain: list[x509.Certificate] = list(extra)
    if chain_pem:
        try:
            chain.extend(x509.load_pem_x509_certificates(chain_pem))
        except ValueError:
            raise CaError("ca_chain_file holds no PEM certificate") from None
    for parent in chain:
        if not is_ca(parent):
            raise CaError("a certificate of the CA chain is not a CA certificate")
    return CaMaterial(certificate, key, order_chain(certificate, chain))


def load_ca_files(
    certificate_file: Path, key_file: Path, password: str | None, chain_file: Path | None = None
) -> CaMaterial:
    def read(path: Path, setting: str) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise CaError(f"{setting}: cannot read {path}: {exc.strerror}") from None

    chain = read(chain_file, "ca_chain_file") if chain_file else None
    return load_ca(read(certificate_file, "ca_certificate_file"), read(key_file, "ca_key_file"), password, chain)


def _authority_key_id(ca: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key())  # type: ignore[arg-type]


def _end_entity(
    ca: CaMaterial,
    public_key: CertificatePublicKeyTypes,
    common_name: str,
    now: datetime,
    validity_days: int,
    *,
    usage: x509.ObjectIdentifier,
    key_agreement: bool,
) -> x509.CertificateBuilder:
    """What every certificate we issue has: subject CN only, not a CA, keyUsage digitalSignature
    (+ keyEncipherment for RSA keys), one extended key usage, SKI/AKI; valid from five minutes ago,
    never beyond the CA's own expiry."""
    rsa_key = not isinstance(public_key, ec.EllipticCurvePublicKey)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + timedelta(days=validity_days), ca.certificate.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=rsa_key,
                data_encipherment=False,
                key_agreement=key_agreement and not rsa_key,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_authority_key_id(ca.certificate), critical=False)
    )


def issue_client_certificate(
    ca: CaMaterial, public_key: CertificatePublicKeyTypes, common_name: str, now: datetime, validity_days: int
) -> x509.Certificate:
    """A client certificate by our policy, whatever the CSR asked for: subject CN only, no SAN,
    EKU clientAuth, keyUsage digitalSignature (+ keyAgreement for EC, keyEncipherment for RSA)."""
    builder = _end_entity(
        ca, public_key, common_name, now, validity_days, usage=ExtendedKeyUsageOID.CLIENT_AUTH, key_agreement=True
    )
    return builder.sign(ca.key, _hash_for(ca.key))


def issue_server_certificate(
    ca: CaMaterial, public_key: CertificatePublicKeyTypes, names: Sequence[str], now: datetime, validity_days: int
) -> x509.Certificate:
    """A TLS server certificate for `admittance serve`: CN the first name, the names as SANs (IP
    addresses as such), EKU serverAuth, not a CA."""
    alternative: list[x509.GeneralName] = []
    for name in names:
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    builder = _end_entity(
        ca, public_key, names[0][:64], now, validity_days, usage=ExtendedKeyUsageOID.SERVER_AUTH, key_agreement=False
    ).add_extension(x509.SubjectAlternativeName(alternative), critical=False)
    return builder.sign(ca.key, _hash_for(ca.key))


@dataclass(frozen=True, slots=True)
class Revocation:
    serial: str
    revoked_at: datetime
    reason: x509.ReasonFlags


def build_crl(
    ca: CaMaterial, revoked: Sequence[Revocation], now: datetime, validity_hours: float
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(now)
        .next_update(now + timedelta(hours=validity_hours))
        .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
        .add_extension(_authority_key_id(ca.certificate), critical=False)
    )
    for entry in revoked:
        item = x509.RevokedCertificateBuilder().serial_number(int(entry.serial, 16)).revocation_date(entry.revoked_at)
        if entry.reason is not x509.ReasonFlags.unspecified:
            item = item.add_extension(x509.CRLReason(entry.reason), critical=False)
        builder = builder.add_revoked_certificate(item.build())
    return builder.sign(ca.key, _hash_for(ca.key))
