"""CertificateService on both databases: issuing (verified by openssl and by cryptography), the sealed
CA key, certificate authentication, revocation and the CRL, renewal and grace renewal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from admittance.bootstrap import Services, first_start
from admittance.identity.directory_model import GrantMethod, GrantType, NewCertificate, NewUser
from admittance.kernel.clock import FakeClock, SystemClock
from admittance.kernel.errors import InvalidInput, NotFound, Unauthenticated
from admittance.kernel.principal import Principal
from admittance.pki.model import IssuedCertificate
from admittance.settings import Settings
from tests.support import secrets
from tests.support.bulk import database_text, principal
from tests.support.pki import cert_pem, ec_key, make_csr, openssl, self_signed_ca
from tests.support.services import build

CERTIFICATE_ONLY = (GrantType(GrantMethod.CERTIFICATE, False),)


@pytest.fixture
async def clocked(settings: Settings) -> AsyncIterator[tuple[Services, FakeClock]]:
    """Services on a clock the test moves (starting now), renewal allowed 7 days after expiry."""
    clock = FakeClock(SystemClock().now())
    built = await build(settings.with_values(certificate_renewal_grace_days=7.0), clock=clock)
    try:
        await first_start(built)
        yield built, clock
    finally:
        await built.close()


async def device_user(services: Services, username: str, grants: tuple[GrantType, ...] = CERTIFICATE_ONLY) -> None:
    admin = await principal(services)
    await services.users.create_user(admin, NewUser(username, None, grant_types=grants))


async def issue(services: Services, key: ec.EllipticCurvePrivateKey, name: str = "sensor_1") -> IssuedCertificate:
    return await services.certificates.issue(
        make_csr(key, name), tenant_id="t1", owner=name, common_name=name, issued_via="api"
    )


def der(issued: IssuedCertificate) -> bytes:
    return issued.certificate().public_bytes(serialization.Encoding.DER)


async def test_issued_certificate_verifies(services: Services, tmp_path: Path) -> None:
    key = ec_key()
    issued = await issue(services, key)
    certificate = issued.certificate()
    [ca] = await services.certificates.ca_certificates()
    assert certificate.subject.rfc4514_string() == "CN=sensor_1" == issued.subject
    assert certificate.serial_number.bit_length() <= 159
    assert certificate.serial_number > 0
    assert issued.serial == format(certificate.serial_number, "x")
    assert list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.key_agreement
    assert not usage.key_cert_sign
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert timedelta(days=365) <= lifetime <= timedelta(days=365, minutes=6)
    # openssl
    (tmp_path / "ca.pem").write_text(cert_pem(ca))
    (tmp_path / "device.pem").write_text(issued.certificate_pem)
    result = openssl("verify", "-CAfile", "ca.pem", "-purpose", "sslclient", "device.pem", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "device.pem: OK" in result.stdout
    # cryptography's verification API, as a TLS server verifies a client. Its web-PKI profile wants a
    # SAN in client certificates; ours have none by policy (the CN names the user), so the end-entity
    # extension policy is the web-PKI one with the SAN optional.
    ee_policy = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None
    )
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([ca]))
        .extension_policies(ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
        .build_client_verifier()
    )
    verified = verifier.verify(certificate, [])
    assert verified.chain[-1] == ca
    # found again, and recorded with the issue audited
    assert await services.certificates.find_by_serial(issued.serial.upper()) == issued
    assert await services.certificates.find_by_sha256(issued.sha256) == issued
    assert await services.certificates.find_by_serial("zz") is None
    async with services.storage.read() as tx:
        events = await tx.audit.list_for_subject("t1", "sensor_1")
    assert [event.tag.value for event in events] == ["pki:certificate:issue"]


async def test_the_ca_key_is_sealed(services: Services) -> None:
    issued = await issue(services, ec_key())
    assert issued.certificate_pem
    ca_key = services.certificates._authority._ca.key
    assert ca_key is not None
    key_text = ca_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    body = "".join(key_text.splitlines()[1:-1])
    secrets.register(body, *key_text.splitlines()[1:-1])
    der_key = ca_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    everything = await database_text(services)
    assert "PRIVATE KEY" not in everything
    for line in key_text.splitlines()[1:-1]:
        assert line not in everything
    assert der_key.hex() not in everything
    async with services.storage.read() as tx:
        stored = await tx.certificates.device_ca()
    assert stored is not None
    assert stored.key_sealed.startswith("v1$")
    assert "sealed" not in repr(stored)
    assert stored.key_sealed not in repr(services.certificates)


async def test_certificate_authentication(services: Services) -> None:
    await device_user(services, "sensor_1")
    key = ec_key()
    issued = await issue(services, key)
    found = await services.certificates.principal_for_certificate(der(issued), "10.0.0.1")
    assert (found.tenant_id, found.username) == ("t1", "sensor_1")
    # unknown, garbage, another user's name without the grant, disabled
    other = await issue(services, ec_key(), "nobody")
    for presented in (b"garbage", der(other)):
        with pytest.raises(Unauthenticated):
            await services.certificates.principal_for_certificate(presented, "10.0.0.1")
    await device_user(services, "token_only", (GrantType(GrantMethod.TOKEN, False),))
    token_only = await issue(services, ec_key(), "token_only")
    with pytest.raises(Unauthenticated):
        await services.certificates.principal_for_certificate(der(token_only), "10.0.0.1")
    # disabled owner
    await disable(services, "sensor_1")
    with pytest.raises(Unauthenticated):
        await services.certificates.principal_for_certificate(der(issued), "10.0.0.1")


async def disable(services: Services, username: str) -> None:
    async with services.storage.transaction() as tx:
        await tx.executor.execute(
            "UPDATE users SET enabled = :off WHERE tenant_id = 't1' AND username = :name",
            {"off": False, "name": username},
        )


async def test_disabled_owner_and_registered_fingerprints(services: Services) -> None:
    admin = await principal(services)
    # A certificate from elsewhere, registered by fingerprint for its CN's user.
    foreign, _ = self_signed_ca("sensor_9", ca=False)
    fingerprint = foreign.fingerprint(hashes.SHA256()).hex()
    created = await services.users.create_user(
        admin, NewUser("sensor_9", None, grant_types=CERTIFICATE_ONLY, certificates=(NewCertificate(fingerprint),))
    )
    foreign_der = foreign.public_bytes(serialization.Encoding.DER)
    found = await services.certificates.principal_for_certificate(foreign_der, "10.0.0.2")
    assert found.username == "sensor_9"
    # registered for a user of another name: refused
    renamed, _ = self_signed_ca("someone_else", ca=False)
    fingerprint2 = renamed.fingerprint(hashes.SHA256()).hex()
    await services.users.create_user(
        admin, NewUser("sensor_10", None, grant_types=CERTIFICATE_ONLY, certificates=(NewCertificate(fingerprint2),))
    )
    with pytest.raises(Unauthenticated):
        await services.certificates.principal_for_certificate(renamed.public_bytes(serialization.Encoding.DER), "x")
    # disabled owner
    assert created.username == "sensor_9"
    await disable(services, "sensor_9")
    with pytest.raises(Unauthenticated):
        await services.certificates.principal_for_certificate(foreign_der, "10.0.0.2")


async def test_revocation_and_crl(services: Services, tmp_path: Path) -> None:
    await device_user(services, "sensor_1")
    admin = await principal(services)
    kept = await issue(services, ec_key())
    revoked_one = await issue(services, ec_key())
    empty = x509.load_der_x509_crl(await services.revocation.crl_der())
    assert len(empty) == 0
    result = await services.revocation.revoke(admin, revoked_one.serial, "keyCompromise")
    assert result.revoked
    assert result.revocation_reason == "keyCompromise"
    again = await services.revocation.revoke(admin, revoked_one.serial, "superseded")  # final: unchanged
    assert again.revocation_reason == "keyCompromise"
    with pytest.raises(InvalidInput):
        await services.revocation.revoke(admin, kept.serial, "because")
    with pytest.raises(NotFound):
        await services.revocation.revoke(admin, "abcdef", "unspecified")
    other_tenant = Principal.of(999, "t2", "someone", ["connectware-admin"])
    with pytest.raises(NotFound):
        await services.revocation.revoke(other_tenant, kept.serial, "unspecified")
    with pytest.raises(Unauthenticated):
        await services.certificates.principal_for_certificate(der(revoked_one), "10.0.0.1")
    assert (await services.certificates.principal_for_certificate(der(kept), "10.0.0.1")).username == "sensor_1"

    crl_der = await services.revocation.crl_der()
    crl = x509.load_der_x509_crl(crl_der)
    [ca] = await services.certificates.ca_certificates()
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    assert crl.issuer == ca.subject
    entry = crl.get_revoked_certificate_by_serial_number(int(revoked_one.serial, 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(int(kept.serial, 16)) is None
    assert crl.next_update_utc is not None
    assert crl.last_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == timedelta(hours=24)
    assert await services.revocation.crl_der() == crl_der  # cached while nothing changes

    (tmp_path / "ca.pem").write_text(cert_pem(ca))
    (tmp_path / "crl.pem").write_text(await services.revocation.crl_pem())
    (tmp_path / "revoked.pem").write_text(revoked_one.certificate_pem)
    (tmp_path / "kept.pem").write_text(kept.certificate_pem)
    shown = openssl("crl", "-in", "crl.pem", "-noout", "-text", "-CAfile", "ca.pem", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "verify OK" in shown.stderr + shown.stdout
    assert revoked_one.serial.upper() in shown.stdout.replace(":", "").upper()
    refused = openssl("verify", "-crl_check", "-CAfile", "ca.pem", "-CRLfile", "crl.pem", "revoked.pem", cwd=tmp_path)
    assert refused.returncode != 0
    assert "revoked" in (refused.stdout + refused.stderr)
    accepted = openssl("verify", "-crl_check", "-CAfile", "ca.pem", "-CRLfile", "crl.pem", "kept.pem", cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr

    async with services.storage.read() as tx:
        events = await tx.audit.list_for_subject("t1", "sensor_1")
    assert [event.tag.value for event in events].count("pki:certificate:revoke") == 1


async def test_crl_follows_revocations_in_other_processes(services: Services, settings: Settings) -> None:
    admin = await principal(services)
    issued = await issue(services, ec_key())
    before = x509.load_der_x509_crl(await services.revocation.crl_der())
    other = await build(settings)
    try:
        await other.revocation.revoke(admin, issued.serial, "unspecified")
    finally:
        await other.close()
    after = x509.load_der_x509_crl(await services.revocation.crl_der())
    assert len(before) == 0
    assert len(after) == 1


async def test_renewal(clocked: tuple[Services, FakeClock]) -> None:
    services, clock = clocked
    await device_user(services, "sensor_1")
    key = ec_key()
    issued = await issue(services, key)
    # valid: renewed with a new key
    new_key = ec_key()
    renewed = await services.certificates.renew(der(issued), make_csr(new_key, "sensor_1"))
    assert renewed.issued_via == "renewal"
    assert renewed.owner == "sensor_1"
    assert renewed.serial != issued.serial
    assert renewed.public_key_sha256 != issued.public_key_sha256
    # the CSR must name the same CN
    with pytest.raises(InvalidInput):
        await services.certificates.renew(der(issued), make_csr(new_key, "sensor_2"))
    # expired, within the grace period: same key only
    clock.advance(timedelta(days=366).total_seconds())
    with pytest.raises(Unauthenticated):
        await services.certificates.principal_for_certificate(der(issued), "10.0.0.1")
    with pytest.raises(Unauthenticated):
        await services.certificates.renew(der(issued), make_csr(ec_key(), "sensor_1"))
    late = await services.certificates.renew(der(issued), make_csr(key, "sensor_1"))
    assert late.public_key_sha256 == issued.public_key_sha256
    assert late.not_after > clock.now() + timedelta(days=364)
    # beyond the grace period: refused even with the same key
    clock.advance(timedelta(days=7).total_seconds())
    with pytest.raises(Unauthenticated):
        await services.certificates.renew(der(issued), make_csr(key, "sensor_1"))
    # revoked: refused
    admin = await principal(services)
    await services.revocation.revoke(admin, late.serial, "superseded")
    with pytest.raises(Unauthenticated):
        await services.certificates.renew(der(late), make_csr(key, "sensor_1"))
    # not ours: refused
    foreign, _ = self_signed_ca("sensor_1", ca=False)
    with pytest.raises(Unauthenticated):
        await services.certificates.renew(foreign.public_bytes(serialization.Encoding.DER), make_csr(key, "sensor_1"))
    async with services.storage.read() as tx:
        tags = [event.tag.value for event in await tx.audit.list_for_subject("t1", "sensor_1")]
    assert tags.count("pki:certificate:renew") == 2


async def test_no_renewal_after_expiry_by_default(services: Services, settings: Settings) -> None:
    clock = FakeClock(SystemClock().now())
    built = await build(settings, clock=clock)
    try:
        await device_user(built, "sensor_1")
        key = ec_key()
        issued = await issue(built, key)
        clock.advance(timedelta(days=365, minutes=1).total_seconds())
        with pytest.raises(Unauthenticated):
            await built.certificates.renew(der(issued), make_csr(key, "sensor_1"))
    finally:
        await built.close()


async def test_renewal_needs_an_enabled_owner_with_the_grant(services: Services) -> None:
    await device_user(services, "sensor_1")
    issued = await issue(services, ec_key())
    await disable(services, "sensor_1")
    with pytest.raises(Unauthenticated):
        await services.certificates.renew(der(issued), make_csr(ec_key(), "sensor_1"))
