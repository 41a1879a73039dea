"""CertificateService on both databases: the CA at start, issuing, finding, renewal, revocation, the CRL."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from admittance.bootstrap import Services
from tests.pki.support import ec_key, make_csr


async def test_issue_and_find(services: Services) -> None:
    key = ec_key()
    issued = await services.certificates.issue(
        make_csr(key, "device-1"), tenant_id="t1", owner="device-1", common_name="device-1", issued_via="api"
    )
    certificate = issued.certificate()
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "device-1"
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert await services.certificates.find_by_serial(issued.serial) == issued
    assert await services.certificates.find_by_sha256(issued.sha256) == issued
    [ca, *_] = await services.certificates.ca_certificates()
    certificate.verify_directly_issued_by(ca)
