"""POST /api/login and GET /api/session: tokens as Bearer and as the seed's plain header, usernames
with and without tenant, lifetimes and labels, MFA enrollment enforcement, every surface accepting
tokens. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from admittance.bootstrap import Services
from tests.support.credentials import ADMIN_PASSWORD
from tests.support.sessions import ADMIN, assert_error, basic, bearer, login, make_user, plain, set_user, sql, token_of


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


async def test_login_answers_the_seed_shape_and_the_token_works_as_bearer_and_plain(
    client: httpx.AsyncClient,
) -> None:
    response = await login(client, "t1/admin", ADMIN_PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body) == ["enforceMFAEnrollment", "expiresAt", "needsMfa", "permissions", "secret", "token"]
    assert body["token"].startswith("adm_")
    assert len(body["token"]) >= 4 + 43  # 256 bits in base64url
    assert body["needsMfa"] is False
    assert body["secret"] is None
    assert body["enforceMFAEnrollment"] is False
    expires = parse(body["expiresAt"])
    assert timedelta(hours=11, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=12)
    assert {"resource": "#", "operation": "readWrite", "context": "http"} in body["permissions"]
    for headers in (bearer(body["token"]), plain(body["token"])):
        session = await client.get("/api/session", headers=headers)
        assert session.status_code == 200, session.text
        assert session.json() == {
            "username": "admin",
            "expiresAt": body["expiresAt"],
            "permissions": body["permissions"],
            "mfa": {"enabled": False, "enforced": False},
        }


async def test_bare_username_belongs_to_the_default_tenant(client: httpx.AsyncClient) -> None:
    response = await login(client, "admin", ADMIN_PASSWORD)
    assert response.status_code == 200, response.text


async def test_session_with_basic_has_no_expiry(client: httpx.AsyncClient) -> None:
    session = await client.get("/api/session", headers=ADMIN)
    assert session.status_code == 200
    assert session.json()["expiresAt"] is None


async def test_wrong_password_and_unknown_user_get_the_same_401(client: httpx.AsyncClient) -> None:
    wrong = await login(client, "t1/admin", "not-the-password")
    unknown = await login(client, "t1/nobody", "not-the-password")
    for response in (wrong, unknown):
        assert_error(response, 401, "Invalid credentials")
    assert wrong.json() == unknown.json()


@pytest.mark.parametrize(
    "body",
    [{"username": "admin"}, {"password": "x"}, {"username": 3, "password": "x"}, {"username": "a", "password": ["x"]}],
)
async def test_login_needs_username_and_password_strings(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    assert_error(await client.post("/api/login", json=body), 422)


async def test_shorter_lifetime_and_labelled_long_lived_tokens(client: httpx.AsyncClient) -> None:
    short = (await login(client, "t1/admin", ADMIN_PASSWORD, expireTimeInHours=1)).json()
    assert parse(short["expiresAt"]) - datetime.now(UTC) <= timedelta(hours=1)
    assert_error(await login(client, "t1/admin", ADMIN_PASSWORD, expireTimeInHours=13), 422, "label")
    long = await login(client, "t1/admin", ADMIN_PASSWORD, expireTimeInHours=24 * 90, label="ci pipeline")
    assert long.status_code == 200, long.text
    assert parse(long.json()["expiresAt"]) - datetime.now(UTC) > timedelta(days=89)
    assert_error(await login(client, "t1/admin", ADMIN_PASSWORD, expireTimeInHours=8761, label="x"), 422)
    for bad in (0, -1, "12", True):
        assert_error(await login(client, "t1/admin", ADMIN_PASSWORD, expireTimeInHours=bad), 422)


async def test_tokens_expire(client: httpx.AsyncClient, services: Services) -> None:
    token = await token_of(client, "t1/admin", ADMIN_PASSWORD)
    assert (await client.get("/api/session", headers=bearer(token))).status_code == 200
    past = int((datetime.now(UTC) - timedelta(seconds=1)).timestamp() * 1000)
    await sql(services, "UPDATE api_tokens SET expires_at = :t", t=past)
    assert_error(await client.get("/api/session", headers=bearer(token)), 401, "Invalid credentials")


async def test_unknown_and_malformed_tokens_are_refused(client: httpx.AsyncClient) -> None:
    for header in ("Bearer adm_" + "A" * 43, "Bearer nonsense", "adm_" + "B" * 43, "Bearer ", "admfa_" + "C" * 43):
        assert_error(await client.get("/api/session", headers={"Authorization": header}), 401, "Invalid credentials")


async def test_query_string_tokens_are_not_accepted(client: httpx.AsyncClient) -> None:
    token = await token_of(client, "t1/admin", ADMIN_PASSWORD)
    assert_error(await client.get("/api/session", params={"apiToken": token}), 401)


async def test_token_works_on_the_cumulocity_surface(client: httpx.AsyncClient) -> None:
    token = await token_of(client, "t1/admin", ADMIN_PASSWORD)
    response = await client.get("/devicecontrol/newDeviceRequests", headers=bearer(token))
    assert response.status_code == 200, response.text
    response = await client.get("/devicecontrol/newDeviceRequests", headers=plain(token))
    assert response.status_code == 200, response.text


async def test_disabled_users_token_is_refused_at_once(client: httpx.AsyncClient, services: Services) -> None:
    user_id = await make_user(services, "carol")
    token = await token_of(client, "t1/carol")
    assert (await client.get("/api/session", headers=bearer(token))).status_code == 200
    await set_user(services, user_id, enabled=False)
    assert_error(await client.get("/api/session", headers=bearer(token)), 401, "Invalid credentials")
    assert_error(await login(client, "t1/carol", "user-Secret-789"), 401)


async def test_a_token_carries_the_users_current_permissions(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "dave")
    token = await token_of(client, "t1/dave")
    refused = await client.get("/devicecontrol/newDeviceRequests", headers=bearer(token))
    assert refused.status_code == 403, refused.text


async def test_enforced_enrollment_restricts_the_token_until_enrolled(
    client: httpx.AsyncClient, services: Services
) -> None:
    user_id = await make_user(services, "erin", roles=("connectware-admin",))
    await set_user(services, user_id, enforce_mfa_enrollment=True)
    response = await login(client, "t1/erin", "user-Secret-789")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["enforceMFAEnrollment"] is True
    assert body["needsMfa"] is False
    token = body["token"]
    session = await client.get("/api/session", headers=bearer(token))
    assert session.status_code == 200
    assert session.json()["mfa"] == {"enabled": False, "enforced": True}
    for method, path in (
        ("GET", "/api/users/1/tokens"),
        ("GET", "/devicecontrol/newDeviceRequests"),
        ("PUT", "/api/users/change-password"),
        ("POST", "/api/mfa/disable"),
    ):
        refused = await client.request(method, path, headers=bearer(token), json={})
        assert refused.status_code == 403, (path, refused.text)
        assert "MFA enrollment is required" in refused.text
    # Basic authentication is held to the same restriction.
    refused = await client.get("/devicecontrol/newDeviceRequests", headers=basic("t1/erin", "user-Secret-789"))
    assert refused.status_code == 403
    enable = await client.post("/api/mfa/enable", headers=bearer(token))
    assert enable.status_code == 200, enable.text


async def test_anonymous_callers_get_401_everywhere(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/api/session"),
        ("GET", "/api/users/1/tokens"),
        ("DELETE", "/api/users/1/tokens"),
        ("PUT", "/api/users/change-password"),
        ("POST", "/api/mfa/enable"),
        ("POST", "/api/mfa/validate"),
        ("POST", "/api/mfa/disable"),
        ("POST", "/api/mfa/regenerate/backupcodes"),
    ):
        response = await client.request(method, path, json={"otp": "123456", "password": "x", "newPassword": "y"})
        assert_error(response, 401, "Invalid credentials")
        assert response.headers["www-authenticate"]
