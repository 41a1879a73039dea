"""The device CA: generated at first start (every key type), or an operator's (EC, RSA, an
intermediate under an offline root with its chain); unusable operator material is refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from admittance.bootstrap import Services, operator_ca
from admittance.pki.ca import CaError, generate_ca, load_ca
from admittance.settings import Settings, SettingsError
from tests.support import secrets
from tests.support.pki import cert_pem, ec_key, key_pem, make_csr, openssl, self_signed_ca
from tests.support.services import build


@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-2048"])
def test_generated_ca(key_type: str) -> None:
    now = datetime.now(UTC)
    ca = generate_ca("My Device CA", key_type, 100, now)
    certificate = ca.certificate
    assert certificate.subject == certificate.issuer
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "My Device CA"
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert not usage.digital_signature
    assert (certificate.not_valid_after_utc - now).days in (99, 100)
    certificate.verify_directly_issued_by(certificate)
    if key_type.startswith("ec"):
        assert isinstance(ca.key, ec.EllipticCurvePrivateKey)
        assert ca.key.curve.key_size == int(key_type[4:])
    else:
        assert isinstance(ca.key, rsa.RSAPrivateKey)
        assert ca.key.key_size == 2048
    assert "PRIVATE" not in repr(ca)


async def test_first_start_generates_once(services: Services, settings: Settings) -> None:
    [ca] = await services.certificates.ca_certificates()
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Admittance Device CA"
    again = await build(settings)
    try:
        assert await again.certificates.ca_certificates() == [ca]
    finally:
        await again.close()


async def test_concurrent_first_starts_agree(settings: Settings, tmp_path: Path) -> None:
    """Several processes starting at once on an empty CA table: one CA, which all of them use."""
    first = await build(settings)
    async with first.storage.transaction() as tx:
        await tx.executor.execute("DELETE FROM trusted_certificates")
    try:
        built = await asyncio.gather(*(build(settings) for _ in range(3)))
        try:
            chains = [await item.certificates.ca_certificates() for item in built]
            assert all(chain == chains[0] for chain in chains)
            async with first.storage.read() as tx:
                rows = await tx.executor.fetch_all("SELECT id FROM trusted_certificates")
            assert [row["id"] for row in rows] == ["device-ca"]
        finally:
            for item in built:
                await item.close()
    finally:
        await first.close()


def _files(
    tmp_path: Path, certificate: x509.Certificate, key_text: bytes, chain: list[x509.Certificate] | None = None
) -> dict[str, str]:
    (tmp_path / "ca.pem").write_text(cert_pem(certificate))
    (tmp_path / "ca.key").write_bytes(key_text)
    files = {"ca_certificate_file": str(tmp_path / "ca.pem"), "ca_key_file": str(tmp_path / "ca.key")}
    if chain:
        (tmp_path / "chain.pem").write_text("".join(cert_pem(item) for item in chain))
        files["ca_chain_file"] = str(tmp_path / "chain.pem")
    return files


@pytest.mark.parametrize("kind", ["ec", "rsa"])
async def test_operator_ca_is_used(settings: Settings, tmp_path: Path, kind: str) -> None:
    key = ec_key() if kind == "ec" else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate, _ = self_signed_ca("Operator CA", key)
    secrets.register(key_pem(key).decode().splitlines()[1])
    changed = settings.with_values(
        **_files(tmp_path, certificate, key_pem(key, b"ca-pass-phrase")), ca_key_password="ca-pass-phrase"
    )
    built = await build(changed)
    try:
        assert await built.certificates.ca_certificates() == [certificate]
        device = ec_key()
        issued = await built.certificates.issue(
            make_csr(device, "dev"), tenant_id="t1", owner="dev", common_name="dev", issued_via="api"
        )
        issued.certificate().verify_directly_issued_by(certificate)
        # The previous (generated) CA stays in the trusted store, removable.
        async with built.storage.read() as tx:
            stored = await tx.certificates.trusted()
        assert [(item.purpose, item.removable) for item in stored] == [("device-ca", False), ("trusted", True)]
    finally:
        await built.close()


async def test_intermediate_under_offline_root(settings: Settings, tmp_path: Path) -> None:
    root, root_key = self_signed_ca("Offline Root", path_length=1)
    intermediate, intermediate_key = self_signed_ca("Device Intermediate", issuer=(root, root_key), path_length=0)
    changed = settings.with_values(**_files(tmp_path, intermediate, key_pem(intermediate_key), [root]))
    built = await build(changed)
    try:
        assert await built.certificates.ca_certificates() == [intermediate, root]
        pem_chain = await built.trust_store.ca_pem()
        assert pem_chain == cert_pem(intermediate) + cert_pem(root)
        issued = await built.certificates.issue(
            make_csr(ec_key(), "dev"), tenant_id="t1", owner="dev", common_name="dev", issued_via="api"
        )
        (tmp_path / "root.pem").write_text(cert_pem(root))
        (tmp_path / "untrusted.pem").write_text(cert_pem(intermediate))
        (tmp_path / "dev.pem").write_text(issued.certificate_pem)
        result = openssl(
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "untrusted.pem",
            "-purpose",
            "sslclient",
            "dev.pem",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr + result.stdout
        # A second start with the same files changes nothing.
        again = await build(changed)
        try:
            assert await again.certificates.ca_certificates() == [intermediate, root]
        finally:
            await again.close()
    finally:
        await built.close()


def test_mismatching_key_is_refused(settings: Settings, tmp_path: Path) -> None:
    certificate, _ = self_signed_ca("Operator CA")
    changed = settings.with_values(**_files(tmp_path, certificate, key_pem(ec_key())))
    with pytest.raises(SettingsError, match="does not hold the key"):
        operator_ca(changed)


def test_not_a_ca_is_refused(settings: Settings, tmp_path: Path) -> None:
    certificate, key = self_signed_ca("Not a CA", ca=False)
    changed = settings.with_values(**_files(tmp_path, certificate, key_pem(key)))
    with pytest.raises(SettingsError, match="not a CA"):
        operator_ca(changed)


def test_key_password_problems_are_clear(settings: Settings, tmp_path: Path) -> None:
    certificate, key = self_signed_ca("Operator CA")
    encrypted = settings.with_values(**_files(tmp_path, certificate, key_pem(key, b"right-password")))
    with pytest.raises(SettingsError, match="encrypted"):
        operator_ca(encrypted)
    with pytest.raises(SettingsError, match="password is wrong"):
        operator_ca(encrypted.with_values(ca_key_password="wrong-password"))


def test_missing_file_and_foreign_chain_are_refused(settings: Settings, tmp_path: Path) -> None:
    certificate, key = self_signed_ca("Operator CA")
    files = _files(tmp_path, certificate, key_pem(key))
    with pytest.raises(SettingsError, match="cannot read"):
        operator_ca(settings.with_values(**{**files, "ca_key_file": str(tmp_path / "missing.key")}))
    other_root, _ = self_signed_ca("Someone Else")
    with pytest.raises(CaError, match="not issuers"):
        load_ca(cert_pem(certificate).encode(), key_pem(key), None, cert_pem(other_root).encode())


def test_settings_refuse_half_configurations() -> None:
    from admittance.settings import validate

    with pytest.raises(SettingsError, match="together"):
        validate(Settings.of(dev_mode=True, ca_certificate_file="/x.pem"))
    with pytest.raises(SettingsError, match="ca_key_type"):
        validate(Settings.of(dev_mode=True, ca_key_type="dsa"))
    with pytest.raises(SettingsError, match="crl_validity_hours"):
        validate(Settings.of(dev_mode=True, crl_validity_hours=0))
    assert Settings.of(ca_key_password="x").redacted()["ca_key_password"] == "***"
