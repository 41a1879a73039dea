"""`admittance serve` terminating TLS itself, end to end over real connections: the server
certificate issued from the device CA, client certificates issued by the device CA authenticating
as their owner, another CA's certificate refused in the handshake, Basic on the same port,
revocation refusing at once, an operator's server certificate, and the trusted proxy's header."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509

from admittance.bootstrap import Services, build_services
from admittance.settings import Settings
from tests.support.client_certificates import DeviceCertificate, admin, issue_to, user_body
from tests.support.connectware import ADMIN
from tests.support.credentials import ADMIN_PASSWORD, BOOTSTRAP_PASSWORD, SECRET_KEY
from tests.support.databases import DATABASES, new_postgres_database
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess
from tests.support.tls_pki import issue, make_ca

START_TIMEOUT_SECONDS = 60.0
Launch = Callable[..., ServerProcess]
SameDatabase = Callable[[ServerProcess, str], Awaitable[Services]]


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Starts `admittance serve` with TLS settings from `env`; stops every one at the end."""
    started: list[ServerProcess] = []

    def start(database_url: str = "", data_dir: Path | None = None, **env: str) -> ServerProcess:
        settings = {
            "ADMITTANCE_DATABASE_URL": database_url,
            "ADMITTANCE_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ADMITTANCE_BOOTSTRAP_PASSWORD": BOOTSTRAP_PASSWORD,
            "ADMITTANCE_SECRET_KEY": SECRET_KEY,
            "ADMITTANCE_TLS": "true",
            **{f"ADMITTANCE_{name.upper()}": value for name, value in env.items()},
        }
        server = ServerProcess(data_dir or tmp_path / f"data-{len(started)}", settings, https=True)
        started.append(server)
        return server.start(timeout=START_TIMEOUT_SECONDS)

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return ""
    postgres: PostgresServer = request.getfixturevalue("postgres")
    return new_postgres_database(postgres)


@pytest.fixture
async def same_database() -> AsyncIterator[SameDatabase]:
    """Services in this process on a server's database, as a second server process would have them."""
    built: list[Services] = []

    async def open_services(server: ServerProcess, database_url: str) -> Services:
        settings = Settings.of(data_dir=server.data_dir, database_url=database_url, secret_key=SECRET_KEY)
        services = await build_services(settings)
        built.append(services)
        return services

    yield open_services
    for services in built:
        await services.close()


def context(ca_file: Path | str, cert: tuple[str, str] | None = None) -> ssl.SSLContext:
    trusted = ssl.create_default_context(cafile=str(ca_file))
    if cert is not None:
        trusted.load_cert_chain(*cert)
    return trusted


def device_ca_file(server: ServerProcess) -> Path:
    return server.data_dir / "tls" / "client-ca.pem"


async def test_client_certificates_from_the_device_ca_authenticate_over_mutual_tls(
    launch: Launch, database_url: str, same_database: SameDatabase, tmp_path: Path
) -> None:
    server = launch(database_url)
    url = f"https://localhost:{server.port}"
    ca_file = device_ca_file(server)
    # The server's own certificate was issued from the device CA for localhost and 127.0.0.1.
    async with httpx.AsyncClient(verify=context(ca_file), base_url=url) as anonymous:
        assert (await anonymous.get("/user/currentUser")).status_code == 401
        # no client certificate: Basic still works on the same port
        created = await anonymous.post("/api/users", json=user_body("sensor9"), headers=ADMIN)
        assert created.status_code == 201, created.text
    async with httpx.AsyncClient(verify=context(ca_file)) as by_address:
        assert (await by_address.get(f"https://127.0.0.1:{server.port}/health")).status_code == 200

    services: Services = await same_database(server, database_url)
    device: DeviceCertificate = await issue_to(services, "sensor9")
    files = device.write(tmp_path / "device")
    async with httpx.AsyncClient(verify=context(ca_file, files), base_url=url) as holder:
        current = await holder.get("/user/currentUser")
        assert current.status_code == 200, current.text
        assert current.json()["userName"] == "sensor9"
        assert (await holder.get("/api/session")).json()["username"] == "sensor9"
        # revoked in "another process": refused at once, on the same kept-alive connection
        await services.revocation.revoke(await admin(services), device.issued.serial, "keyCompromise")
        assert (await holder.get("/user/currentUser")).status_code == 401

    # a certificate of another CA, for the same name: the handshake itself fails
    stranger = issue(make_ca("Other CA"), "sensor9").write(tmp_path / "stranger", "sensor9")
    async with httpx.AsyncClient(verify=context(ca_file, stranger), base_url=url) as impostor:
        with pytest.raises(httpx.TransportError):
            await impostor.get("/user/currentUser")
    assert "Traceback" not in server.output()


async def test_the_issued_server_certificate_is_kept_across_restarts(launch: Launch, tmp_path: Path) -> None:
    data = tmp_path / "kept"
    first = launch(data_dir=data, tls_server_names="localhost,127.0.0.1,admittance.test")
    issued = (data / "tls" / "server.pem").read_bytes()
    assert oct((data / "tls" / "server-key.pem").stat().st_mode & 0o777) == "0o600"
    certificate = x509.load_pem_x509_certificate(issued)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "admittance.test"]
    first.stop()
    launch(data_dir=data, tls_server_names="localhost,127.0.0.1,admittance.test").stop()
    assert (data / "tls" / "server.pem").read_bytes() == issued
    # other names: issued again
    launch(data_dir=data, tls_server_names="localhost,127.0.0.1")
    assert (data / "tls" / "server.pem").read_bytes() != issued


async def test_an_operator_certificate_and_a_trusted_proxy_header(
    launch: Launch, same_database: SameDatabase, tmp_path: Path
) -> None:
    operator_ca = make_ca("Operator CA")
    ca_file = tmp_path / "operator-ca.pem"
    ca_file.write_bytes(operator_ca.certificate_pem)
    certificate, key = issue(operator_ca, "localhost", server_names=["localhost", "127.0.0.1"]).write(
        tmp_path / "operator", "server"
    )
    server = launch(tls_certificate_file=certificate, tls_key_file=key, trusted_proxies="127.0.0.1")
    url = f"https://localhost:{server.port}"
    async with httpx.AsyncClient(verify=context(ca_file), base_url=url) as http:
        created = await http.post("/api/users", json=user_body("sensor10"), headers=ADMIN)
        assert created.status_code == 201, created.text
    services: Services = await same_database(server, "")
    device: DeviceCertificate = await issue_to(services, "sensor10")
    header = {"x-client-cert": quote(device.pair.certificate_pem.decode(), safe="")}
    # the proxy at 127.0.0.1 forwards the certificate it verified
    async with httpx.AsyncClient(verify=context(ca_file), base_url=url) as proxy:
        current = await proxy.get("/user/currentUser", headers=header)
        assert current.status_code == 200, current.text
        assert current.json()["userName"] == "sensor10"
    # the same header from another address (127.0.0.2) is refused
    transport = httpx.AsyncHTTPTransport(verify=context(ca_file), local_address="127.0.0.2")
    async with httpx.AsyncClient(transport=transport, base_url=url) as elsewhere:
        refused = await elsewhere.get("/user/currentUser", headers=header)
        assert refused.status_code == 403
        assert (await elsewhere.get("/user/currentUser", headers=ADMIN)).status_code == 200
    # direct mutual TLS works too (client CA: the device CA by default)
    files = device.write(tmp_path / "device")
    device_ca = device_ca_file(server)
    both = ssl.create_default_context(cafile=str(ca_file))
    both.load_cert_chain(*files)
    assert device_ca.exists()
    async with httpx.AsyncClient(verify=both, base_url=url) as holder:
        assert (await holder.get("/user/currentUser")).json()["userName"] == "sensor10"


def test_unusable_tls_files_stop_the_start_with_a_clear_message(tmp_path: Path) -> None:
    env = {
        "ADMITTANCE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "ADMITTANCE_BOOTSTRAP_PASSWORD": BOOTSTRAP_PASSWORD,
        "ADMITTANCE_SECRET_KEY": SECRET_KEY,
        "ADMITTANCE_TLS_CERTIFICATE_FILE": str(tmp_path / "missing.pem"),
        "ADMITTANCE_TLS_KEY_FILE": str(tmp_path / "missing-key.pem"),
    }
    server = ServerProcess(tmp_path / "data", env, https=True)
    with pytest.raises(RuntimeError, match="cannot use the TLS server certificate"):
        server.start(timeout=START_TIMEOUT_SECONDS)
    assert "Traceback" not in server.output()
    half = ServerProcess(tmp_path / "data2", {**env, "ADMITTANCE_TLS_KEY_FILE": ""}, https=True)
    with pytest.raises(RuntimeError, match="tls_certificate_file and tls_key_file must be set together"):
        half.start(timeout=START_TIMEOUT_SECONDS)
