"""The ASGI TLS extension over real TLS connections (uvicorn in a thread, with our protocol class),
and the parsing of http/client_cert.py."""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from starlette.requests import Request

from admittance.http.client_cert import (
    der_from_header,
    is_trusted_proxy,
    tls_client_certificate,
    verified_client_certificate,
)
from admittance.http.tls import TlsHttpToolsProtocol
from admittance.kernel.errors import MalformedInput, PermissionDenied
from admittance.settings import Settings
from tests.support.postgres import free_port
from tests.support.tls_pki import KeyPair, issue, make_ca


async def echo_tls(scope: Any, receive: Any, send: Any) -> None:
    """Answers with the scope's TLS extension (or null) as JSON."""
    if scope["type"] != "http":
        return
    body = json.dumps((scope.get("extensions") or {}).get("tls")).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


class ThreadServer:
    def __init__(self, **options: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            echo_tls, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", **options
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("pki")
    ca, other_ca = make_ca("Device CA"), make_ca("Some other CA")
    server = issue(ca, "localhost", server_names=["localhost", "127.0.0.1"])
    client, stranger = issue(ca, "device-1"), issue(other_ca, "device-1")
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.certificate_pem)
    return {
        "ca": ca,
        "ca_file": str(ca_file),
        "server": server.write(folder, "server"),
        "client": client,
        "client_files": client.write(folder, "client"),
        "stranger_files": stranger.write(folder, "stranger"),
    }


@pytest.fixture(scope="module")
def tls_server(pki: dict[str, Any]) -> Iterator[ThreadServer]:
    certificate, key = pki["server"]
    with ThreadServer(
        http=TlsHttpToolsProtocol,
        loop="uvloop",
        ssl_certfile=certificate,
        ssl_keyfile=key,
        ssl_ca_certs=pki["ca_file"],
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
    ) as server:
        yield server


def trusting(pki: dict[str, Any], cert: tuple[str, str] | None = None) -> ssl.SSLContext:
    """Trusts the test CA; presents `cert` (certificate file, key file) when given."""
    context = ssl.create_default_context(cafile=pki["ca_file"])
    if cert is not None:
        context.load_cert_chain(*cert)
    return context


def test_a_verified_client_certificate_is_in_the_scope_as_pem(pki: dict[str, Any], tls_server: ThreadServer) -> None:
    with httpx.Client(verify=trusting(pki, pki["client_files"])) as client:
        first = client.get(f"https://localhost:{tls_server.port}/").json()
        second = client.get(f"https://localhost:{tls_server.port}/again").json()  # same connection
    assert first == second
    assert first["client_cert_name"] == "CN=device-1"
    assert first["client_cert_error"] is None
    assert first["tls_version"] in (0x0303, 0x0304)
    [pem] = first["client_cert_chain"]
    assert tls_client_certificate({"extensions": {"tls": first}}) == pki["client"].der
    assert pem.startswith("-----BEGIN CERTIFICATE-----")


def test_without_a_client_certificate_the_extension_has_an_empty_chain(
    pki: dict[str, Any], tls_server: ThreadServer
) -> None:
    with httpx.Client(verify=trusting(pki)) as client:
        tls = client.get(f"https://127.0.0.1:{tls_server.port}/").json()
    assert tls["client_cert_chain"] == []
    assert tls["client_cert_name"] is None
    assert tls_client_certificate({"extensions": {"tls": tls}}) is None


def test_a_certificate_from_another_ca_fails_the_handshake(pki: dict[str, Any], tls_server: ThreadServer) -> None:
    with httpx.Client(verify=trusting(pki, pki["stranger_files"])) as client, pytest.raises(httpx.HTTPError):
        # TLS 1.3: the server's refusal of the certificate arrives with the first read.
        client.get(f"https://localhost:{tls_server.port}/")


def test_plain_http_has_no_tls_extension() -> None:
    with ThreadServer(http=TlsHttpToolsProtocol, loop="asyncio") as server:
        assert httpx.get(f"http://127.0.0.1:{server.port}/").json() is None


def test_the_asyncio_loop_fills_the_extension_too(pki: dict[str, Any]) -> None:
    certificate, key = pki["server"]
    options: dict[str, Any] = {
        "ssl_certfile": certificate,
        "ssl_keyfile": key,
        "ssl_ca_certs": pki["ca_file"],
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
    }
    with (
        ThreadServer(http=TlsHttpToolsProtocol, loop="asyncio", **options) as server,
        httpx.Client(verify=trusting(pki, pki["client_files"])) as client,
    ):
        assert client.get(f"https://localhost:{server.port}/").json()["client_cert_name"] == "CN=device-1"


# --- http/client_cert.py without a network -------------------------------------------------------


def request(headers: dict[str, str], *, client: str = "10.0.0.5", tls: dict[str, Any] | None = None) -> Request:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": (client, 50000),
    }
    if tls is not None:
        scope["extensions"] = {"tls": tls}
    return Request(scope)


def tls_of(pair: KeyPair) -> dict[str, Any]:
    return {"client_cert_chain": (pair.certificate_pem.decode(),), "client_cert_error": None}


def test_the_header_forms_of_nginx_caddy_haproxy_and_apache_all_decode(pki: dict[str, Any]) -> None:
    pair: KeyPair = pki["client"]
    pem = pair.certificate_pem.decode()
    der_b64 = base64.b64encode(pair.der).decode()
    forms = [
        quote(pem, safe=""),  # nginx $ssl_client_escaped_cert
        der_b64,  # Caddy {http.request.tls.client.certificate_der_base64}, HAProxy %[ssl_c_der,base64]
        pem.replace("\n", " "),  # Apache / HAProxy PEM with spaces
        quote(pem.replace("-----BEGIN CERTIFICATE-----\n", "").replace("\n-----END CERTIFICATE-----\n", "")),
    ]
    for form in forms:
        assert der_from_header(form) == pair.der
    with pytest.raises(MalformedInput):
        der_from_header("not a certificate!")
    with pytest.raises(MalformedInput):
        der_from_header("A" * 20_000)


def test_the_header_counts_only_from_a_trusted_proxy(pki: dict[str, Any]) -> None:
    pair: KeyPair = pki["client"]
    header = {"x-client-cert": quote(pair.certificate_pem.decode(), safe="")}
    behind = Settings.of(trusted_proxies="10.0.0.0/24, ::1")
    assert verified_client_certificate(request(header), behind) == pair.der
    assert verified_client_certificate(request(header, client="::1"), behind) == pair.der
    for settings, client in ((behind, "10.0.1.5"), (Settings(), "10.0.0.5"), (behind, "testclient")):
        with pytest.raises(PermissionDenied):
            verified_client_certificate(request(header, client=client), settings)
    assert verified_client_certificate(request({}), behind) is None
    # an empty header from the proxy: no certificate, and not the proxy's own TLS certificate either
    assert verified_client_certificate(request({"x-client-cert": ""}, tls=tls_of(pair)), behind) is None
    custom = Settings.of(trusted_proxies="10.0.0.5", client_cert_header="X-SSL-Client-Cert")
    assert verified_client_certificate(request({"x-ssl-client-cert": header["x-client-cert"]}), custom) == pair.der


def test_the_tls_extension_is_used_without_a_header(pki: dict[str, Any]) -> None:
    pair: KeyPair = pki["client"]
    assert verified_client_certificate(request({}, tls=tls_of(pair)), Settings()) == pair.der
    assert (
        verified_client_certificate(request({}, tls={**tls_of(pair), "client_cert_error": "bad"}), Settings()) is None
    )
    assert verified_client_certificate(request({}, tls={"client_cert_chain": ()}), Settings()) is None


def test_ipv4_mapped_addresses_match_ipv4_networks() -> None:
    settings = Settings.of(trusted_proxies="127.0.0.1")
    assert is_trusted_proxy("::ffff:127.0.0.1", settings)
    assert not is_trusted_proxy("::ffff:127.0.0.2", settings)
    assert not is_trusted_proxy(None, settings)
