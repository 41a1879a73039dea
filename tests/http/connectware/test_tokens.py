"""GET/DELETE /api/users/{id}/tokens and PUT /api/users/change-password: listing without secrets,
revocation effective on the next request, who may manage whose tokens. SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from admittance.bootstrap import Services
from tests.support.credentials import ADMIN_PASSWORD
from tests.support.sessions import (
    ADMIN,
    USER_PASSWORD,
    assert_error,
    basic,
    bearer,
    login,
    make_user,
    register,
    token_of,
)


async def admin_id(services: Services) -> int:
    user = await services.storage.auth_record("t1", "admin")
    assert user is not None
    return user.user_id


async def test_listing_shows_fingerprints_and_labels_never_tokens(
    client: httpx.AsyncClient, services: Services
) -> None:
    uid = await make_user(services, "frank")
    first = await token_of(client, "t1/frank")
    second = await token_of(client, "t1/frank", expireTimeInHours=100, label="grafana")
    response = await client.get(f"/api/users/{uid}/tokens", headers=bearer(first))
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert len(tokens) == 2
    assert all(sorted(t) == ["createdAt", "expiresAt", "fingerprint", "label"] for t in tokens)
    assert sorted(str(t["label"]) for t in tokens) == ["None", "grafana"]
    assert first not in response.text
    assert second not in response.text


async def test_revoking_one_token_takes_effect_at_once(client: httpx.AsyncClient, services: Services) -> None:
    uid = await make_user(services, "gina")
    keep = await token_of(client, "t1/gina", label="keep")
    drop = await token_of(client, "t1/gina", label="drop")
    listed = (await client.get(f"/api/users/{uid}/tokens", headers=bearer(keep))).json()
    fingerprint = next(t["fingerprint"] for t in listed if t["label"] == "drop")
    revoked = await client.delete(f"/api/users/{uid}/tokens", params={"fingerprint": fingerprint}, headers=bearer(keep))
    assert revoked.status_code == 204, revoked.text
    assert_error(await client.get("/api/session", headers=bearer(drop)), 401)
    assert (await client.get("/api/session", headers=bearer(keep))).status_code == 200
    again = await client.delete(f"/api/users/{uid}/tokens", params={"tokenId": fingerprint}, headers=bearer(keep))
    assert_error(again, 404)


async def test_revoking_all_tokens_of_a_user(client: httpx.AsyncClient, services: Services) -> None:
    uid = await make_user(services, "hank")
    tokens = [await token_of(client, "t1/hank") for _ in range(3)]
    assert (await client.delete(f"/api/users/{uid}/tokens", headers=ADMIN)).status_code == 204
    for token in tokens:
        assert_error(await client.get("/api/session", headers=bearer(token)), 401)
    assert (await client.get(f"/api/users/{uid}/tokens", headers=ADMIN)).json() == []


async def test_others_tokens_need_the_permission(client: httpx.AsyncClient, services: Services) -> None:
    ivy = await make_user(services, "ivy")
    jack = await make_user(services, "jack")
    ivy_token = await token_of(client, "t1/ivy")
    await token_of(client, "t1/jack")
    assert_error(await client.get(f"/api/users/{jack}/tokens", headers=bearer(ivy_token)), 403)
    assert_error(await client.delete(f"/api/users/{jack}/tokens", headers=bearer(ivy_token)), 403)
    assert len((await client.get(f"/api/users/{jack}/tokens", headers=ADMIN)).json()) == 1
    assert (await client.get(f"/api/users/{ivy}/tokens", headers=bearer(ivy_token))).status_code == 200
    assert_error(await client.get("/api/users/999999/tokens", headers=ADMIN), 404)
    assert_error(await client.get("/api/users/abc/tokens", headers=ADMIN), 404)


async def test_users_of_other_tenants_are_invisible(client: httpx.AsyncClient, services: Services) -> None:
    await services.identity.create_tenant("t2")
    register("other-Secret-123")
    other = await services.identity.create_user("t2", "kim", "other-Secret-123", ["connectware-admin"])
    t2_admin = basic("t2/kim", "other-Secret-123")
    assert_error(await client.get(f"/api/users/{await admin_id(services)}/tokens", headers=t2_admin), 404)
    assert (await client.get(f"/api/users/{other.id}/tokens", headers=t2_admin)).status_code == 200


async def test_change_password_keeps_the_token_in_use_and_revokes_the_others(
    client: httpx.AsyncClient, services: Services
) -> None:
    await make_user(services, "lena")
    current = await token_of(client, "t1/lena")
    other = await token_of(client, "t1/lena")
    new_password = "lena-New-Secret-1"
    register(new_password)
    response = await client.put(
        "/api/users/change-password",
        json={"password": USER_PASSWORD, "newPassword": new_password},
        headers=bearer(current),
    )
    assert response.status_code == 204, response.text
    assert (await client.get("/api/session", headers=bearer(current))).status_code == 200
    assert_error(await client.get("/api/session", headers=bearer(other)), 401)
    assert_error(await login(client, "t1/lena", USER_PASSWORD), 401)
    assert (await login(client, "t1/lena", new_password)).status_code == 200


async def test_change_password_checks_the_current_one_and_the_policy(
    client: httpx.AsyncClient, services: Services
) -> None:
    await make_user(services, "mona")
    token = await token_of(client, "t1/mona")
    wrong = await client.put(
        "/api/users/change-password",
        json={"password": "wrong-password", "newPassword": "Good-Secret-9"},
        headers=bearer(token),
    )
    assert_error(wrong, 403, "current password")
    weak = await client.put(
        "/api/users/change-password", json={"password": USER_PASSWORD, "newPassword": "x"}, headers=bearer(token)
    )
    assert_error(weak, 422)
    assert_error(
        await client.put("/api/users/change-password", json={"password": USER_PASSWORD}, headers=bearer(token)), 422
    )
    assert (await client.get("/api/session", headers=bearer(token))).status_code == 200


async def test_change_password_with_basic_revokes_every_token(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "nina")
    token = await token_of(client, "t1/nina")
    register("nina-New-Secret-1")
    response = await client.put(
        "/api/users/change-password",
        json={"password": USER_PASSWORD, "newPassword": "nina-New-Secret-1"},
        headers=basic("t1/nina", USER_PASSWORD),
    )
    assert response.status_code == 204, response.text
    assert_error(await client.get("/api/session", headers=bearer(token)), 401)
    assert (await login(client, "t1/admin", ADMIN_PASSWORD)).status_code == 200
