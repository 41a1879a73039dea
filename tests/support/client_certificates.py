"""Helpers of the client-certificate tests: a user who may authenticate with a certificate, and a
certificate issued to them by the device CA (CertificateService.issue, as the registry or EST would)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from admittance.bootstrap import Services
from admittance.identity import PresentedCredentials
from admittance.kernel.principal import Principal
from admittance.pki.model import IssuedCertificate
from tests.support.connectware import ADMIN
from tests.support.credentials import ADMIN_PASSWORD
from tests.support.tls_pki import KeyPair, client_csr

CERTIFICATE_GRANTS = [{"method": "password", "isRequired": False}, {"method": "certificate", "isRequired": False}]


@dataclass(frozen=True)
class DeviceCertificate:
    issued: IssuedCertificate
    pair: KeyPair

    @property
    def der(self) -> bytes:
        return self.pair.der

    def write(self, folder: Path) -> tuple[str, str]:
        return self.pair.write(folder, self.issued.owner)


def user_body(username: str, *, certificate: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"username": username, "password": "Device-Pass-1234", "roles": []}
    if certificate:
        body["grantTypes"] = CERTIFICATE_GRANTS
    return body


async def create_certificate_user(client: httpx.AsyncClient, username: str, *, certificate: bool = True) -> None:
    response = await client.post("/api/users", json=user_body(username, certificate=certificate), headers=ADMIN)
    assert response.status_code == 201, response.text


async def issue_to(services: Services, username: str, tenant: str = "t1") -> DeviceCertificate:
    key, csr = client_csr(username)
    issued = await services.certificates.issue(
        csr, tenant_id=tenant, owner=username, common_name=username, issued_via="api"
    )
    certificate = x509.load_pem_x509_certificate(issued.certificate_pem.encode())
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return DeviceCertificate(issued, KeyPair(key, certificate))


async def admin(services: Services) -> Principal:
    return await services.identity.authenticate(PresentedCredentials("t1", "admin", ADMIN_PASSWORD, "test"))
