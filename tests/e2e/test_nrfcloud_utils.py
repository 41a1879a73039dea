"""Conformance with the real client: the PyPI package `nrfcloud-utils` (3.3.1, pinned in
requirements/test.lock) pointed at a real `admittance serve` on SQLite and PostgreSQL.

The package has no base-URL option, so its module globals are patched in-process exactly as
spec a.8 option 1 shows (`nrf_cloud_diap.api_url`, and `set_dev_stage`, which every script's
`main()` calls and which would otherwise reset the URL to Nordic's host); the 5 s polls of
`claim_and_provision_device` go through a patched `time.sleep`. Everything else, the requests, their
headers (the bogus `contentType: text/csv` of the bulk claim, the User-Agent), the status codes it
accepts and the JSON fields it reads, is the package's own code.

The API key is an Admittance token (`adm_...` from POST /api/login) of a user holding the built-in
role nrf-cloud-admin, sent by the package as `Authorization: Bearer <key>`. Device identity keys are
registered through the native endpoint /admittance/v1/nrf/identity-keys, and claim tokens are minted
with them (spec a.1), so the default `known-keys` verification holds.
"""

from __future__ import annotations

import base64
import csv
import datetime
import io
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cbor2
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nrfcloud_utils import claim_and_provision_device, claim_devices, nrf_cloud_diap, nrf_cloud_onboard
from nrfcredstore import comms

from admittance.claiming.device_protocol import mint_device_jwt
from admittance.claiming.token import mint_claim_token
from tests.support import secrets
from tests.support.credentials import ADMIN_PASSWORD
from tests.support.server import Start

pytestmark = pytest.mark.e2e

ADMIN = ("t1/admin", ADMIN_PASSWORD)
OPERATOR = "nrf.operator"
OPERATOR_PASSWORD = "Nrf-operator-Secret-42"
SEC_TAG = 16842753
secrets.register(ADMIN_PASSWORD, OPERATOR_PASSWORD)


@dataclass
class Device:
    """A simulated nRF91 modem: its factory identity key (registered with the server) and UUID."""

    uuid: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    imei: str = "352656106118683"

    def token(self) -> str:
        """A fresh `AT%ATTESTTOKEN` answer (new nonce each time)."""
        return mint_claim_token(self.key, self.uuid)

    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )


@dataclass
class Nrf:
    """A running server, the operator's API key and the package pointed at the server."""

    base_url: str
    api_key: str = field(repr=False)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.api_key}", **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.base_url}{path}", headers=headers, timeout=30, **kwargs)

    def device(self) -> Device:
        """A new device whose identity public key the manufacturer registered (admin, native API)."""
        device = Device(str(uuid.uuid4()))
        registered = httpx.post(
            f"{self.base_url}/admittance/v1/nrf/identity-keys",
            json=[{"deviceUuid": device.uuid, "publicKey": device.public_pem()}],
            auth=ADMIN,
            timeout=30,
        )
        assert registered.status_code in (200, 201), registered.text
        return device


@pytest.fixture
def nrf(start: Start, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Nrf:
    server = start(database_url)
    created = httpx.post(
        f"{server.base_url}/api/users",
        json={"username": OPERATOR, "password": OPERATOR_PASSWORD, "roles": ["nrf-cloud-admin"]},
        auth=ADMIN,
    )
    assert created.status_code == 201, created.text
    login = httpx.post(
        f"{server.base_url}/api/login", json={"username": f"t1/{OPERATOR}", "password": OPERATOR_PASSWORD}
    )
    assert login.status_code == 200, login.text
    api_key = login.json()["token"]
    assert api_key.startswith("adm_")
    secrets.register(api_key)
    api_url = f"{server.base_url}/v1/"
    monkeypatch.setattr(nrf_cloud_diap, "api_url", api_url)
    monkeypatch.setattr(nrf_cloud_diap, "set_dev_stage", lambda stage="": api_url)
    # claim_and_provision_device ends with the main nRF Cloud API (onboarding): never Nordic's host.
    monkeypatch.setattr(nrf_cloud_onboard, "api_url", api_url)
    monkeypatch.setattr(nrf_cloud_onboard, "set_dev_stage", lambda stage="": api_url)
    return Nrf(server.base_url, api_key)


def _write_tokens_csv(path: Path, rows: list[tuple[Device, str]]) -> None:
    """The file `gather_attestation_tokens` writes: imei,uuid,attestToken,isoDatetime."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        for device, token in rows:
            writer.writerow([device.imei, device.uuid, token, "2026-12-02T04:30:00Z"])


def test_claim_devices_script_bulk_claims_a_csv(nrf: Nrf, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    devices = [nrf.device() for _ in range(3)]
    stranger = Device(str(uuid.uuid4()))  # identity key never registered: known-keys refuses it
    tokens = tmp_path / "attestation_tokens.csv"
    _write_tokens_csv(tokens, [(device, device.token()) for device in devices] + [(stranger, stranger.token())])

    caplog.set_level(logging.INFO)
    with pytest.raises(SystemExit) as exited:
        claim_devices.main(["--csv", str(tokens), "--api-key", nrf.api_key, "-P", "--provisioning-tags", "lab,row-7"])
    assert exited.value.code == 0
    assert "Done. 3 of 4 devices claimed." in caplog.text
    assert "--> Accepted; claimed 3:" in caplog.text

    for device in devices:
        got = nrf.api("GET", f"/v1/claimed-devices/{device.uuid}")
        assert got.status_code == 200, got.text
        claimed = got.json()
        assert claimed["id"] == device.uuid
        assert set(claimed["tags"]) == {"lab", "row-7"}  # one CSV field "lab,row-7": split on commas
        assert claimed["status"] == "READY"
        assert claimed["ownershipStatus"] == "IDENTIFIED"
    listed = nrf.api("GET", "/v1/claimed-devices")
    assert listed.status_code == 200, listed.text
    assert {item["id"] for item in listed.json()["items"]} == {device.uuid for device in devices}
    assert nrf.api("GET", f"/v1/claimed-devices/{stranger.uuid}").status_code == 404

    # The same file again: every token was already used (replay) or its device is claimed; nothing new.
    caplog.clear()
    with pytest.raises(SystemExit):
        claim_devices.main(["--csv", str(tokens), "--api-key", nrf.api_key, "-P"])
    assert "Done. 0 of 4 devices claimed." in caplog.text


def test_every_nrf_cloud_diap_call(nrf: Nrf) -> None:
    device = nrf.device()
    key = nrf.api_key

    # Dry run: 202 means "can be claimed"; nothing is claimed.
    can_claim, reason = nrf_cloud_diap.can_device_be_claimed(key, device.token())
    assert (can_claim, reason) == (True, None)
    assert nrf.api("GET", f"/v1/claimed-devices/{device.uuid}").status_code == 404

    # Claim: 201 with the claimed-device object; the package sends its tags string as ONE element.
    claimed = nrf_cloud_diap.claim_device(key, device.token(), "alpha,beta")
    assert claimed.status_code == 201, claimed.text
    body = claimed.json()
    assert body["id"] == device.uuid
    assert set(body["tags"]) == {"alpha", "beta"}
    assert body["status"] == "READY"

    # Claimed already: the dry run says no, with a message the package shows as the reason.
    can_claim, reason = nrf_cloud_diap.can_device_be_claimed(key, device.token())
    assert can_claim is False
    assert isinstance(reason, str)
    assert reason
    again = nrf_cloud_diap.claim_device(key, device.token())
    assert again.status_code == 409, again.text
    assert again.json()["code"] == 40900 or again.json()["code"] // 100 == 409

    # Provisioning commands: 201 + id each; the command reads back 200 with its status.
    csr = nrf_cloud_diap.create_provisioning_cmd_csr(key, device.uuid, attributes=f"CN={device.uuid}", sec_tag=SEC_TAG)
    assert csr.status_code == 201, csr.text
    csr_id = csr.json()["id"]
    assert csr_id
    fetched = nrf_cloud_diap.get_provisioning_cmd(key, device.uuid, csr_id)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["status"] == "PENDING"
    assert fetched.json()["request"]["certificateSigningRequest"] == {
        "attributes": f"CN={device.uuid}",
        "keyUsage": "101010000",
        "secTag": SEC_TAG,
    }
    # The device fetches it (IN_PROGRESS), answers with its KEYGEN output (SUCCEEDED): the package
    # reads the CSR at response.certificateSigningRequest.csr, verbatim base64url DER.
    simulated = SimulatedDevice(nrf, device)
    [wire] = simulated.fetch()
    assert wire[:3] == [csr_id, 0, "%KEYGEN"]
    assert nrf_cloud_diap.get_provisioning_cmd(key, device.uuid, csr_id).json()["status"] == "IN_PROGRESS"
    answer = simulated.run(wire)
    simulated.answer([answer])
    done = nrf_cloud_diap.get_provisioning_cmd(key, device.uuid, csr_id).json()
    assert done["status"] == "SUCCEEDED"
    assert done["response"]["certificateSigningRequest"]["csr"] == answer[2]
    client_cert = nrf_cloud_diap.create_provisioning_cmd_client_cert(key, device.uuid, _self_signed_pem(device.uuid))
    assert client_cert.status_code == 201, client_cert.text
    assert client_cert.json()["id"]
    server_cert = nrf_cloud_diap.create_provisioning_cmd_server_cert(key, device.uuid, _self_signed_pem("root"))
    assert server_cert.status_code == 201, server_cert.text
    assert server_cert.json()["id"]
    finished = nrf_cloud_diap.create_provisioning_cmd_finished(key, device.uuid)
    assert finished.status_code == 201, finished.text
    finished_id = finished.json()["id"]
    fetched = nrf_cloud_diap.get_provisioning_cmd(key, device.uuid, finished_id)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["status"] == "PENDING"
    assert fetched.json()["description"] == "Provisioning complete"

    # Rules and provisioning tags, as ensure_nrfcloud_provisioning_rule uses them.
    rules = nrf_cloud_diap.list_provisioning_rules(key)
    assert rules.status_code == 200, rules.text
    assert rules.json()["items"] == []
    nrf_cloud_diap.ensure_nrfcloud_provisioning_rule(key, SEC_TAG)  # lists, creates the tag, creates the rule
    rules = nrf_cloud_diap.list_provisioning_rules(key)
    assert rules.status_code == 200, rules.text
    [rule] = rules.json()["items"]
    assert rule["name"] == "nRF Cloud Onboarding"
    assert rule["tags"] == ["nrf-cloud-onboarding"]
    nrf_cloud_diap.ensure_nrfcloud_provisioning_rule(key, SEC_TAG)  # found: no second rule
    assert len(nrf_cloud_diap.list_provisioning_rules(key).json()["items"]) == 1
    tags = nrf_cloud_diap.list_provisioning_tags(key)
    assert tags.status_code == 200, tags.text
    assert "nrf-cloud-onboarding" in _tag_names(tags.json())
    tag = nrf_cloud_diap.create_provisioning_tag(key, "factory-line-2", "Second line")
    assert tag.status_code in (200, 201), tag.text  # the package ignores the answer
    assert "factory-line-2" in _tag_names(nrf_cloud_diap.list_provisioning_tags(key).json())
    assert nrf_cloud_diap.create_provisioning_tag(key, "factory-line-2").status_code == 409  # ignored by the package
    rule = nrf_cloud_diap.create_provisioning_rule(key, name="Line 2", coap=False, tags=["factory-line-2"])
    assert rule.status_code == 201, rule.text

    # Unclaim: 204; the device is gone and can be claimed again with a fresh token.
    unclaimed = nrf_cloud_diap.unclaim_device(key, device.uuid)
    assert unclaimed.status_code == 204, unclaimed.text
    assert nrf.api("GET", f"/v1/claimed-devices/{device.uuid}").status_code == 404
    assert nrf_cloud_diap.unclaim_device(key, device.uuid).status_code == 404
    assert nrf_cloud_diap.can_device_be_claimed(key, device.token()) == (True, None)
    assert nrf_cloud_diap.claim_device(key, device.token()).status_code == 201


def test_the_package_without_a_valid_key_is_refused(nrf: Nrf) -> None:
    device = nrf.device()
    for api_key in ("adm_not-a-real-token", ""):
        if api_key:
            secrets.register(api_key)
        can_claim, reason = nrf_cloud_diap.can_device_be_claimed(api_key, device.token())
        assert can_claim is False
        assert reason
        assert nrf_cloud_diap.claim_device(api_key, device.token()).status_code == 401
    assert nrf.api("GET", f"/v1/claimed-devices/{device.uuid}").status_code == 404


def _tag_names(body: Any) -> set[str]:
    items = body["items"] if isinstance(body, dict) else body
    return {item["tag"] if isinstance(item, dict) else item for item in items}


def _self_signed_pem(common_name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


# --- claim_and_provision_device with a fake modem (spec a.8 option 2) and a simulated device ------


class FakeModem:
    """Stands in for `serial.Serial`: answers AT+CGSN with the IMEI and AT%ATTESTTOKEN with a fresh
    token, like an nRF91 modem in AT mode; the shell-mode probe (`at AT+CGSN`) gets ERROR."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.lines: list[bytes] = []

    def __call__(self, **_: Any) -> FakeModem:  # the constructor call `serial.Serial(port=..., ...)`
        return self

    def write(self, data: bytes) -> int:
        command = data.decode().strip()
        if command == "AT+CGSN":
            self._answer(self.device.imei, "OK")
        elif command == "AT%ATTESTTOKEN":
            self._answer(f'%ATTESTTOKEN: "{self.device.token()}"', "OK")
        elif command:
            self._answer("ERROR")
        return len(data)

    def _answer(self, *lines: str) -> None:
        self.lines.extend(line.encode() + b"\r\n" for line in lines)

    def readline(self) -> bytes:
        return self.lines.pop(0) if self.lines else b""

    def reset_input_buffer(self) -> None:
        self.lines.clear()

    def reset_output_buffer(self) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


@dataclass
class SimulatedDevice:
    """The device side of the provisioning protocol (sdk-nrf nrf_provisioning): fetches its commands
    with a JWT signed by its identity key, runs them (KEYGEN makes a key and a CSR, CMNG stores) and
    posts the CBOR responses. `poll()` is one round; the patched `time.sleep` of the package calls it."""

    nrf: Nrf
    device: Device
    after: str = ""
    stored: dict[tuple[int, int], str] = field(default_factory=dict)
    rounds: int = 0

    def poll(self) -> None:
        """One round: fetch the pending commands, run them, post the responses."""
        commands = self.fetch()
        if commands:
            self.answer([self.run(command) for command in commands])

    def _headers(self) -> dict[str, str]:
        jwt = mint_device_jwt(self.device.key, self.device.uuid, now=int(time.time()))
        secrets.register(jwt)
        return {"Authorization": f"Bearer {jwt}"}

    def fetch(self) -> list[list[Any]]:
        self.rounds += 1
        params = {"after": self.after, "rxMaxSize": "4096", "txMaxSize": "4096", "limit": "10"}
        got = httpx.get(
            f"{self.nrf.base_url}/v1/provisioning/commands",
            params={**params, "mver": "mfw_nrf91x1_2.0.2", "cver": "3.0.0"},
            headers={**self._headers(), "Accept": "application/cbor"},
            timeout=30,
        )
        if got.status_code == 204:
            return []
        assert got.status_code == 200, got.text
        assert got.headers["content-type"].startswith("application/cbor")
        commands: list[list[Any]] = cbor2.loads(got.content)
        return commands

    def answer(self, responses: list[list[Any]]) -> None:
        self.after = responses[-1][0]
        posted = httpx.post(
            f"{self.nrf.base_url}/v1/provisioning/response",
            content=cbor2.dumps(responses),
            headers={**self._headers(), "Content-Type": "application/cbor"},
            timeout=30,
        )
        assert posted.status_code in (200, 204), posted.text

    def run(self, command: list[Any]) -> list[Any]:
        correlation_id, kind = command[0], command[1]
        if kind == 1:  # config
            return [correlation_id, 101]
        if kind == 2:  # finished
            return [correlation_id, 102]
        set_command, parameters = command[2], next(csv.reader(io.StringIO(command[3])))
        if set_command == "%KEYGEN":  # sec_tag, 2, 0 (CSR) | 1 (public key)[, "attributes"[, "key usage"]]
            key = ec.generate_private_key(ec.SECP256R1())
            attributes = parameters[3] if len(parameters) > 3 else ""
            subject = x509.Name.from_rfc4514_string(attributes) if attributes else x509.Name([])
            csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
            return [correlation_id, 100, _b64url(csr.public_bytes(serialization.Encoding.DER))]
        if set_command == "%CMNG":  # 0 (write), sec_tag, type, "content"
            self.stored[(int(parameters[1]), int(parameters[2]))] = parameters[3]
            return [correlation_id, 100, ""]
        return [correlation_id, 99, 4, "unsupported"]


def _fake_serial_port(monkeypatch: pytest.MonkeyPatch, device: Device) -> None:
    monkeypatch.setattr(comms, "select_device", lambda *args, **kwargs: (SimpleNamespace(device="/dev/fake"), None))
    monkeypatch.setattr(comms.serial, "Serial", FakeModem(device))


def test_claim_and_provision_device_with_onboarding_tag(
    nrf: Nrf, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The no-CA path: ensure the nRF Cloud Onboarding rule, dry run, claim with the tag; the rule's
    commands are then queued on the device for it to fetch over the air."""
    device = nrf.device()
    _fake_serial_port(monkeypatch, device)
    caplog.set_level(logging.INFO)
    claim_and_provision_device.main(
        ["--api-key", nrf.api_key, "-P", "--port", "fake", "--provisioning-tags", "nrf-cloud-onboarding"]
    )
    assert f"Device UUID: {device.uuid}" in caplog.text
    assert "Claim device response: 201" in caplog.text
    assert "Done. It is assumed the provisioning tags complete the process over the air." in caplog.text
    claimed = nrf.api("GET", f"/v1/claimed-devices/{device.uuid}").json()
    assert claimed["tags"] == ["nrf-cloud-onboarding"]
    [rule] = nrf.api("GET", "/v1/provisioning-rules").json()["items"]
    assert rule["tags"] == ["nrf-cloud-onboarding"]
    queued = nrf.api("GET", f"/v1/claimed-devices/{device.uuid}/provisioning")
    assert queued.status_code == 200, queued.text
    assert [next(iter(item["request"])) for item in queued.json()["items"]] == [
        "clientPrivateKeyGeneration",
        "cloudAccessKeyGeneration",
        "serverCertificate",
    ]


def test_claim_and_provision_device_with_a_ca_and_a_simulated_device(
    nrf: Nrf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The CA path: claim, CSR command answered by the device, the package signs the CSR with its own
    CA and queues client certificate, server certificate and finished; the device installs them."""
    device = nrf.device()
    _fake_serial_port(monkeypatch, device)
    ca_pem, ca_key_pem = _ca(tmp_path)
    simulated = SimulatedDevice(nrf, device)
    monkeypatch.setattr(claim_and_provision_device, "time", SimpleNamespace(sleep=lambda _: simulated.poll()))
    caplog.set_level(logging.INFO)
    claim_and_provision_device.main(
        ["--api-key", nrf.api_key, "-P", "--port", "fake", "--ca", str(ca_pem), "--ca-key", str(ca_key_pem)]
    )
    assert "Claim device response: 201" in caplog.text
    assert "Command status: SUCCEEDED" in caplog.text
    assert caplog.text.rstrip().endswith("Done.") or "Done." in caplog.text
    client_certificate = x509.load_pem_x509_certificate(simulated.stored[(SEC_TAG, 1)].encode())
    ca = x509.load_pem_x509_certificate(ca_pem.read_bytes())
    assert client_certificate.issuer == ca.subject
    assert client_certificate.subject.rfc4514_string() == f"CN={device.uuid}"
    assert "BEGIN CERTIFICATE" in simulated.stored[(SEC_TAG, 0)]
    commands = nrf.api("GET", f"/v1/claimed-devices/{device.uuid}/provisioning").json()["items"]
    assert [command["status"] for command in commands] == ["SUCCEEDED"] * 4


def _ca(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nrfcloud-utils test CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca_pem, ca_key_pem = folder / "ca.pem", folder / "ca-key.pem"
    ca_pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    ca_key_pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_pem, ca_key_pem


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
