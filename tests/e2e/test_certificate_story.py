"""The certificate story end to end, with real cryptography against a real `admittance serve` that
terminates TLS itself, on SQLite and PostgreSQL:

1. Connectware's client registry: a device makes its own key, registers with a CSR while the window
   is locked (423) and once open (202 with a pairing code), the operator compares the code and grants,
   the device collects its certificate (201), which chains to the CA (`openssl verify`);
2. the device authenticates with it over mutual TLS; the operator revokes it: refused at once, and
   the CRL the server publishes makes `openssl verify -crl_check` refuse it too;
3. Cumulocity's EST: a bulk row with AUTH_TYPE CERTIFICATES and an ENROLLMENT_OTP, simpleenroll
   with an openssl-made CSR, mutual TLS as device_<id>, simplereenroll over the same mutual TLS.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import secrets
from tests.support.credentials import ADMIN_PASSWORD, BOOTSTRAP_PASSWORD, SECRET_KEY
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

ADMIN = ("t1/admin", ADMIN_PASSWORD)
OTP = "Enroll-otp-story-2741"
secrets.register(ADMIN_PASSWORD, OTP)


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/usr/bin/openssl", *args], capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[ServerProcess]:
    env = {
        "ADMITTANCE_DATABASE_URL": database_url,
        "ADMITTANCE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "ADMITTANCE_BOOTSTRAP_PASSWORD": BOOTSTRAP_PASSWORD,
        "ADMITTANCE_SECRET_KEY": SECRET_KEY,
        "ADMITTANCE_TLS": "true",
    }
    process = ServerProcess(tmp_path / "data", env, https=True)
    process.start(timeout=60.0)
    try:
        yield process
    finally:
        process.stop()


def tls(ca_file: Path, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    return context


def device_key(folder: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    path = folder / f"{name}.key.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key, path


def csr_pem(key: ec.EllipticCurvePrivateKey, common_name: str) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def write(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def test_register_grant_collect_connect_revoke_and_est(server: ServerProcess, tmp_path: Path) -> None:
    url = f"https://localhost:{server.port}"
    server_ca = server.data_dir / "tls" / "client-ca.pem"
    with httpx.Client(base_url=url, verify=tls(server_ca), auth=ADMIN) as operator:
        ca_pem = operator.get("/admittance/v1/pki/ca.pem")
        assert ca_pem.status_code == 200, ca_pem.text
        ca_file = write(tmp_path, "ca.pem", ca_pem.content)

        # 1. The client registry: a key that never leaves the device, a CSR with CN = username.
        key, key_file = device_key(tmp_path, "sensor")
        body = {"username": "sensor.story", "csr": base64.b64encode(csr_pem(key, "sensor.story")).decode()}
        with httpx.Client(base_url=url, verify=tls(server_ca)) as device:
            assert device.post("/api/client-registry/register", json=body).status_code == 423
            assert operator.post("/api/client-registry/open", json={"duration": 60000}).status_code == 204
            pending = device.post("/api/client-registry/register", json=body)
            assert pending.status_code == 202, pending.text
            listed = [
                entry for entry in operator.get("/api/client-registry").json() if entry["username"] == "sensor.story"
            ]
            assert [entry["pairingCode"] for entry in listed] == [pending.json()["pairingCode"]]
            confirmed = operator.post("/api/client-registry/confirm", json={"username": "sensor.story", "roles": []})
            assert confirmed.status_code == 200, confirmed.text
            collected = device.post("/api/client-registry/register", json=body)
            assert collected.status_code == 201, collected.text
        cert_file = write(tmp_path, "sensor.pem", base64.b64decode(collected.json()["certificate"]))
        verified = openssl("verify", "-CAfile", str(ca_file), "-purpose", "sslclient", str(cert_file))
        assert verified.returncode == 0, verified.stderr
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
        assert certificate.subject.rfc4514_string() == "CN=sensor.story"

        # 2. Mutual TLS with it, then revocation: refused at once, and by the published CRL.
        with httpx.Client(base_url=url, verify=tls(server_ca, (cert_file, key_file))) as holder:
            me = holder.get("/user/currentUser")
            assert me.status_code == 200, me.text
            assert me.json()["userName"] == "sensor.story"
            serial = format(certificate.serial_number, "x")
            revoked = operator.post(f"/admittance/v1/certificates/{serial}/revoke", json={"reason": "keyCompromise"})
            assert revoked.status_code == 200, revoked.text
            assert holder.get("/user/currentUser").status_code == 401
        crl_file = write(tmp_path, "crl.pem", operator.get("/admittance/v1/pki/crl.pem").content)
        refused = openssl("verify", "-crl_check", "-CRLfile", str(crl_file), "-CAfile", str(ca_file), str(cert_file))
        assert refused.returncode != 0
        assert "revoked" in (refused.stdout + refused.stderr)

        # 3. EST: a bulk row with a one-time password, enrollment, mutual TLS, re-enrollment.
        manifest = f"ID;AUTH_TYPE;ENROLLMENT_OTP;TYPE;NAME\nest-story-1;CERTIFICATES;{OTP};c8y_Device;EST story\n"
        uploaded = operator.post("/devicecontrol/bulkNewDeviceRequests", files={"file": ("m.csv", manifest)})
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["numberOfSuccessful"] == 1
        est_key, est_key_file = device_key(tmp_path, "est")
        csr_der = x509.load_pem_x509_csr(csr_pem(est_key, "est-story-1")).public_bytes(serialization.Encoding.DER)
        headers = {"Content-Type": "application/pkcs10", "Content-Transfer-Encoding": "base64"}
        with httpx.Client(base_url=url, verify=tls(server_ca)) as device:
            enrolled = device.post(
                "/.well-known/est/simpleenroll",
                content=base64.encodebytes(csr_der),
                headers=headers,
                auth=("est-story-1", OTP),
            )
            assert enrolled.status_code == 200, enrolled.text
            again = device.post(
                "/.well-known/est/simpleenroll",
                content=base64.encodebytes(csr_der),
                headers=headers,
                auth=("est-story-1", OTP),
            )
            assert again.status_code == 401  # the one-time password worked once
        p7 = write(tmp_path, "est.p7.der", base64.b64decode(enrolled.content))
        est_cert = tmp_path / "est.pem"
        assert openssl("pkcs7", "-inform", "DER", "-in", str(p7), "-print_certs", "-out", str(est_cert)).returncode == 0
        assert openssl("verify", "-CAfile", str(ca_file), str(est_cert)).returncode == 0
        with httpx.Client(base_url=url, verify=tls(server_ca, (est_cert, est_key_file))) as est_device:
            me = est_device.get("/user/currentUser")
            assert me.status_code == 200, me.text
            assert me.json()["userName"] == "device_est-story-1"
            renewed = est_device.post(
                "/.well-known/est/simplereenroll", content=base64.encodebytes(csr_der), headers=headers
            )
            assert renewed.status_code == 200, renewed.text
        renewed_cert = tmp_path / "renewed.pem"
        renewed_p7 = write(tmp_path, "renewed.p7.der", base64.b64decode(renewed.content))
        assert (
            openssl(
                "pkcs7", "-inform", "DER", "-in", str(renewed_p7), "-print_certs", "-out", str(renewed_cert)
            ).returncode
            == 0
        )
        first, second = (x509.load_pem_x509_certificate(path.read_bytes()) for path in (est_cert, renewed_cert))
        assert first.serial_number != second.serial_number
        assert (
            hashlib.sha256(first.public_bytes(serialization.Encoding.DER)).digest()
            != hashlib.sha256(second.public_bytes(serialization.Encoding.DER)).digest()
        )
        assert second.subject == first.subject
