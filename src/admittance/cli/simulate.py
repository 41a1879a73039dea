"""`admittance simulate nrf-device`: a simulated nRF91 device for demos and end-to-end tests.

It generates a P-256 identity key and a device UUID, registers the key (POST
/admittance/v1/nrf/identity-keys), mints a claim token as AT%ATTESTTOKEN would, claims itself with
the operator's API key (POST /v1/claimed-devices), then runs the nrf_provisioning command loop with
device JWTs: %KEYGEN answered with a CSR made with its own key (base64url DER), %CMNG with OK,
config and finished acknowledged, until the finished ack (or --max-rounds)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import cbor2
import click
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from admittance.claiming.device_protocol import AT_COMMAND, CONFIG, FINISHED, b64url, mint_device_jwt
from admittance.claiming.token import mint_claim_token


class SimulatorError(Exception):
    pass


class NrfDevice:
    """The simulated device: its identity key, UUID and what it was provisioned with."""

    def __init__(self, base_url: str, api_key: str, *, client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.device_id = str(uuid.uuid4())
        self.config: dict[str, str] = {}
        self.credentials: dict[tuple[int, int], str] = {}  # (secTag, type) -> content
        self.http = client or httpx.Client(timeout=30)

    def _operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def _check(self, response: httpx.Response, what: str, *expected: int) -> httpx.Response:
        if response.status_code not in expected:
            raise SimulatorError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
        return response

    def register_key(self) -> None:
        pem = (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        response = self.http.post(
            f"{self.base_url}/admittance/v1/nrf/identity-keys",
            json=[{"deviceUuid": self.device_id, "publicKey": pem}],
            headers=self._operator(),
        )
        self._check(response, "registering the identity key", 200, 201)

    def claim(self, tags: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"claimToken": mint_claim_token(self.key, self.device_id)}
        if tags:
            body["tags"] = tags
        response = self.http.post(f"{self.base_url}/v1/claimed-devices", json=body, headers=self._operator())
        document: dict[str, Any] = self._check(response, "claiming", 201).json()
        return document

    def jwt(self) -> str:
        return mint_device_jwt(self.key, self.device_id, now=int(time.time()), lifetime=300)

    def keygen(self, parameters: str) -> str:
        """What %KEYGEN=<sec_tag>,2,<0 CSR | 1 public key>,... answers (without the COSE part)."""
        fields = parameters.split(",")
        if len(fields) > 2 and fields[2] == "1":
            der = self.key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return b64url(der)
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.device_id)]))
            .sign(self.key, hashes.SHA256())
        )
        return b64url(csr.public_bytes(serialization.Encoding.DER))

    def run_command(self, command: list[Any]) -> tuple[list[Any], str]:
        """The response to one command, and a line for the log."""
        correlation, kind = command[0], command[1]
        if kind == AT_COMMAND:
            set_command, parameters = command[2], command[3]
            if set_command == "%KEYGEN":
                return [correlation, 100, f'%KEYGEN: "{self.keygen(parameters)}"'], f"AT{set_command}={parameters}"
            if set_command == "%CMNG":
                _, sec_tag, kind_text, content = [*parameters.split(",", 3), "", "", "", ""][:4]
                self.credentials[(int(sec_tag), int(kind_text))] = content.strip('"')
                return [correlation, 100, "OK"], f"AT%CMNG write secTag {sec_tag} type {kind_text}"
            return [correlation, 99, 0, "ERROR"], f"unsupported AT command {set_command}"
        if kind == CONFIG:
            self.config.update(command[2])
            return [correlation, 101], f"config {sorted(command[2])}"
        if kind == FINISHED:
            return [correlation, 102], "finished"
        return [correlation, 99, 0, "ERROR"], f"unknown command type {kind}"

    def provision(self, *, max_rounds: int = 20, wait_seconds: float = 1.0, echo: Any = print) -> int:
        """The command loop; the number of commands run. Ends with the finished ack."""
        after = ""
        ran = 0
        for _ in range(max_rounds):
            params: dict[str, Any] = {"rxMaxSize": 8192, "txMaxSize": 4096, "limit": 10}
            if after:
                params["after"] = after
            headers = {"Authorization": f"Bearer {self.jwt()}", "Accept": "application/cbor"}
            response = self.http.get(f"{self.base_url}/v1/provisioning/commands", params=params, headers=headers)
            if response.status_code == 204:
                echo("no commands yet")
                time.sleep(wait_seconds)
                continue
            self._check(response, "fetching commands", 200)
            commands = cbor2.loads(response.content)
            responses = []
            finished = False
            for command in commands:
                answer, line = self.run_command(command)
                echo(f"  {line}")
                responses.append(answer)
                ran += 1
                after = command[0]
                if answer[1] == 99:
                    break
                finished = finished or answer[1] == 102
            self._check(
                self.http.post(
                    f"{self.base_url}/v1/provisioning/response",
                    content=cbor2.dumps(responses),
                    headers={"Authorization": f"Bearer {self.jwt()}", "Content-Type": "application/cbor"},
                ),
                "posting responses",
                200,
            )
            if finished:
                return ran
        raise SimulatorError(f"provisioning did not finish in {max_rounds} rounds")


@click.group()
def simulate() -> None:
    """Simulated devices for demos and end-to-end tests."""


@simulate.command("nrf-device")
@click.option("--url", required=True, help="Admittance base URL, e.g. http://127.0.0.1:8111")
@click.option("--api-key", required=True, envvar="ADMITTANCE_API_KEY", help="operator API key (adm_ token)")
@click.option("--tags", default="", help="comma-separated tags to claim the device with")
@click.option("--max-rounds", default=20, show_default=True, help="command fetches before giving up")
@click.option("--wait", "wait_seconds", default=1.0, show_default=True, help="seconds between empty fetches")
def nrf_device(url: str, api_key: str, tags: str, max_rounds: int, wait_seconds: float) -> None:
    """Register a generated identity key, claim the device, then run its provisioning commands."""
    device = NrfDevice(url, api_key)
    try:
        click.echo(f"device {device.device_id}: generated a P-256 identity key")
        device.register_key()
        click.echo("identity key registered")
        claimed = device.claim([tag for tag in tags.split(",") if tag.strip()])
        click.echo(f"claimed: status {claimed.get('status')}, tags {claimed.get('tags')}")
        ran = device.provision(max_rounds=max_rounds, wait_seconds=wait_seconds, echo=click.echo)
        click.echo(f"provisioning finished: {ran} commands run")
    except (SimulatorError, httpx.HTTPError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        device.http.close()
