"""Request authentication by a verified client certificate, in process (both databases): from the
ASGI TLS extension and from a trusted proxy's header, on every surface; the Authorization header
wins; revocation refuses at once; the header from anyone else is refused."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from admittance.bootstrap import Services
from admittance.http.app import create_app
from admittance.settings import Settings
from tests.support.client_certificates import DeviceCertificate, admin, create_certificate_user, issue_to
from tests.support.connectware import ADMIN, basic
from tests.support.settings import with_settings
from tests.support.tls_pki import issue, make_ca

PROXY = "127.0.0.1"  # httpx's ASGI transport calls from here


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, trusted_proxies=f"{PROXY}, 10.8.0.0/16")


def tls_app(app: Any, pem: str | None) -> Any:
    """The app as `admittance serve` with TLS calls it: the handshake's certificate in the TLS extension."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            chain = (pem,) if pem else ()
            scope = {**scope, "extensions": {"tls": {"client_cert_chain": chain, "client_cert_error": None}}}
        await app(scope, receive, send)

    return wrapped


@pytest.fixture
async def device(client: httpx.AsyncClient, services: Services) -> DeviceCertificate:
    await create_certificate_user(client, "sensor7")
    return await issue_to(services, "sensor7")


def over_tls(settings: Settings, services: Services, pem: str | None, peer: str = "192.0.2.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(
        app=tls_app(create_app(settings, services), pem), raise_app_exceptions=False, client=(peer, 40000)
    )
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


def from_peer(settings: Settings, services: Services, peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(settings, services), raise_app_exceptions=False, client=(peer, 1))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def forwarded(device: DeviceCertificate) -> dict[str, str]:
    """nginx's $ssl_client_escaped_cert."""
    return {"x-client-cert": quote(device.pair.certificate_pem.decode(), safe="")}


@pytest.fixture
async def tls_client(
    settings: Settings, services: Services, device: DeviceCertificate
) -> AsyncIterator[httpx.AsyncClient]:
    async with over_tls(settings, services, device.pair.certificate_pem.decode()) as http:
        yield http


async def test_the_handshake_certificate_authenticates_on_every_surface(tls_client: httpx.AsyncClient) -> None:
    current = await tls_client.get("/user/currentUser")
    assert current.status_code == 200, current.text
    assert current.json()["userName"] == "sensor7"
    session = await tls_client.get("/api/session")
    assert session.status_code == 200, session.text
    assert session.json()["username"] == "sensor7"
    assert session.json()["expiresAt"] is None
    native = await tls_client.get("/admittance/v1/jobs")
    assert native.status_code == 403  # authenticated as sensor7, who may not list jobs


async def test_the_authorization_header_wins(tls_client: httpx.AsyncClient) -> None:
    as_admin = await tls_client.get("/user/currentUser", headers=ADMIN)
    assert as_admin.json()["userName"] == "admin"
    wrong = await tls_client.get("/user/currentUser", headers=basic("t1/admin", "not-the-password"))
    assert wrong.status_code == 401
    garbled = await tls_client.get("/user/currentUser", headers={"Authorization": "Basic !!!"})
    assert garbled.status_code == 401


async def test_revocation_refuses_at_once(
    tls_client: httpx.AsyncClient, services: Services, device: DeviceCertificate
) -> None:
    assert (await tls_client.get("/user/currentUser")).status_code == 200
    await services.revocation.revoke(await admin(services), device.issued.serial, "keyCompromise")
    assert (await tls_client.get("/user/currentUser")).status_code == 401
    assert (await tls_client.get("/api/session")).status_code == 401


async def test_certificates_we_did_not_issue_authenticate_nobody(
    client: httpx.AsyncClient, settings: Settings, services: Services, device: DeviceCertificate
) -> None:
    # same CN as a real user, signed by some other CA (a proxy configured with the wrong bundle)
    stranger = issue(make_ca("Other CA"), "sensor7")
    async with over_tls(settings, services, stranger.certificate_pem.decode()) as http:
        assert (await http.get("/user/currentUser")).status_code == 401
    async with from_peer(settings, services, PROXY) as http:
        header = {"x-client-cert": base64.b64encode(stranger.der).decode()}
        assert (await http.get("/user/currentUser", headers=header)).status_code == 401


async def test_the_owner_needs_the_certificate_grant_type(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    await create_certificate_user(client, "password_only", certificate=False)
    holder = await issue_to(services, "password_only")
    async with over_tls(settings, services, holder.pair.certificate_pem.decode()) as http:
        assert (await http.get("/user/currentUser")).status_code == 401


async def test_no_certificate_and_no_credentials_is_401_and_basic_still_works(
    settings: Settings, services: Services
) -> None:
    async with over_tls(settings, services, None) as http:
        assert (await http.get("/user/currentUser")).status_code == 401
        assert (await http.get("/user/currentUser", headers=ADMIN)).json()["userName"] == "admin"


async def test_the_header_of_a_trusted_proxy_authenticates(
    settings: Settings, services: Services, device: DeviceCertificate
) -> None:
    for peer in (PROXY, "10.8.3.4"):
        async with from_peer(settings, services, peer) as http:
            current = await http.get("/user/currentUser", headers=forwarded(device))
            assert current.status_code == 200, current.text
            assert current.json()["userName"] == "sensor7"
            session = await http.get("/api/session", headers=forwarded(device))
            assert session.json()["username"] == "sensor7"
            # the proxy saw no certificate: the empty header, and no other credentials
            assert (await http.get("/user/currentUser", headers={"x-client-cert": ""})).status_code == 401
            malformed = await http.get("/user/currentUser", headers={"x-client-cert": "%%%garbage%%%"})
            assert malformed.status_code == 400


async def test_the_header_from_anyone_else_is_refused(
    settings: Settings, services: Services, device: DeviceCertificate
) -> None:
    async with from_peer(settings, services, "192.0.2.99") as http:
        refused = await http.get("/user/currentUser", headers=forwarded(device))
        assert refused.status_code == 403
        # refused even next to valid credentials: a spoofing attempt is never silently ignored
        assert (await http.get("/user/currentUser", headers={**forwarded(device), **ADMIN})).status_code == 403
        api = await http.get("/api/session", headers=forwarded(device))
        assert api.status_code == 403
        assert api.json()["statusCode"] == 403
        assert "trusted proxy" in api.json()["message"]
    # a TLS client that adds the header itself gets no further than anyone else
    async with over_tls(settings, services, device.pair.certificate_pem.decode()) as http:
        assert (await http.get("/user/currentUser", headers=forwarded(device))).status_code == 403


async def test_no_trusted_proxies_means_the_header_is_never_believed(
    settings: Settings, services: Services, device: DeviceCertificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    # request authentication reads the settings of the services (those of every process)
    monkeypatch.setattr(services, "settings", with_settings(services.settings, trusted_proxies=""))
    async with from_peer(settings, services, PROXY) as http:
        assert (await http.get("/user/currentUser", headers=forwarded(device))).status_code == 403
