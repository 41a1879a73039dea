"""TOTP MFA end to end over /api/mfa/*: enrollment, login in two steps, no code reuse, single-use
backup codes and challenges, regeneration, disabling; secrets sealed at rest. SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx

from admittance.bootstrap import Services
from admittance.identity.mfa import BACKUP_CODE_ALPHABET
from tests.support.sessions import (
    USER_PASSWORD,
    assert_error,
    basic,
    bearer,
    challenge,
    code,
    enroll,
    login,
    make_user,
    mfa_login,
    register,
    secret_of,
    sql,
    token_of,
)


async def test_the_whole_mfa_story(client: httpx.AsyncClient, services: Services) -> None:
    uid = await make_user(services, "olga")
    token = await token_of(client, "t1/olga")
    enable = await client.post("/api/mfa/enable", headers=bearer(token))
    assert enable.status_code == 200
    uri = enable.json()["uri"]
    assert uri.startswith("otpauth://totp/Admittance:olga?issuer=Admittance&secret=")
    assert uri.endswith("&algorithm=SHA1&digits=6&period=30")
    secret_of(uri)
    wrong = await client.post("/api/mfa/validate", json={"otp": "000000"}, headers=bearer(token))
    assert_error(wrong, 422)
    secret, codes = await enroll(client, token)  # a second enable replaces the pending secret
    assert len(codes) == 12
    assert len(set(codes)) == 12
    assert all(len(c) == 12 and set(c) <= set(BACKUP_CODE_ALPHABET) for c in codes)
    assert_error(await client.post("/api/mfa/enable", headers=bearer(token)), 409)
    assert (await client.get("/api/session", headers=bearer(token))).json()["mfa"] == {
        "enabled": True,
        "enforced": False,
    }

    # Sealed at rest: the database holds neither the secret nor the backup codes.
    async with services.database.read() as db:
        row = await db.fetch_one("SELECT mfa_secret FROM users WHERE id = :id", {"id": uid})
        stored_codes = await db.fetch_all("SELECT digest FROM mfa_backup_codes WHERE user_id = :id", {"id": uid})
    assert row is not None
    assert secret not in row["mfa_secret"]
    assert len(stored_codes) == 12
    assert not {r["digest"] for r in stored_codes} & set(codes)

    # A password alone no longer authenticates.
    assert_error(await client.get("/api/session", headers=basic("t1/olga", USER_PASSWORD)), 401)

    # Second step with the next step's code; the challenge is single use.
    first = await challenge(client, "t1/olga")
    later_code = code(secret, time.time(), 1)
    ok = await mfa_login(client, "t1/olga", first, otp=later_code)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["token"].startswith("adm_")
    assert body["needsMfa"] is False
    assert body["secret"] is None
    assert (await client.get("/api/session", headers=bearer(body["token"]))).status_code == 200
    assert_error(await mfa_login(client, "t1/olga", first, otp=code(secret, time.time(), 1)), 401)

    # The same code cannot be used again, nor an older one.
    assert_error(await mfa_login(client, "t1/olga", await challenge(client, "t1/olga"), otp=later_code), 401)
    assert_error(
        await mfa_login(client, "t1/olga", await challenge(client, "t1/olga"), otp=code(secret, time.time())), 401
    )

    # Backup codes: once each, in any case and with separators.
    spaced = codes[0][:4] + "-" + codes[0][4:].lower()
    assert (await mfa_login(client, "olga", await challenge(client, "t1/olga"), backupCode=spaced)).status_code == 200
    assert_error(await mfa_login(client, "t1/olga", await challenge(client, "t1/olga"), backupCode=codes[0]), 401)

    # Regenerating invalidates the old codes.
    regenerated = await client.post(
        "/api/mfa/regenerate/backupcodes", json={"backupCode": codes[1]}, headers=bearer(token)
    )
    assert regenerated.status_code == 200, regenerated.text
    new_codes = regenerated.json()["backupCodes"]
    register(*new_codes)
    assert not set(new_codes) & set(codes)
    assert_error(
        await client.post("/api/mfa/regenerate/backupcodes", json={"backupCode": codes[2]}, headers=bearer(token)), 403
    )
    assert_error(await mfa_login(client, "t1/olga", await challenge(client, "t1/olga"), backupCode=codes[3]), 401)

    # Disabling needs a code; then the password alone signs in again.
    assert_error(await client.post("/api/mfa/disable", json={"otp": "123456"}, headers=bearer(token)), 403)
    assert_error(await client.post("/api/mfa/disable", json={}, headers=bearer(token)), 422)
    disabled = await client.post("/api/mfa/disable", json={"backupCode": new_codes[0]}, headers=bearer(token))
    assert disabled.status_code == 204, disabled.text
    plain_login = await login(client, "t1/olga", USER_PASSWORD)
    assert plain_login.json()["needsMfa"] is False
    assert plain_login.json()["token"]
    assert_error(await client.post("/api/mfa/disable", json={"otp": "123456"}, headers=bearer(token)), 422)


async def test_mfa_login_refuses_other_users_and_expired_challenges(
    client: httpx.AsyncClient, services: Services
) -> None:
    await make_user(services, "paul")
    await make_user(services, "rita")
    _, codes = await enroll(client, await token_of(client, "t1/paul"))
    pending = await challenge(client, "t1/paul")
    assert_error(await mfa_login(client, "t1/rita", pending, backupCode=codes[0]), 401)
    # the failed attempt consumed the challenge
    assert_error(await mfa_login(client, "t1/paul", pending, backupCode=codes[0]), 401)
    expired = await challenge(client, "t1/paul")
    past = int((datetime.now(UTC) - timedelta(seconds=1)).timestamp() * 1000)
    await sql(services, "UPDATE api_tokens SET expires_at = :t WHERE kind = 'mfa'", t=past)
    assert_error(await mfa_login(client, "t1/paul", expired, backupCode=codes[0]), 401)
    # the challenge is no session token
    assert_error(await client.get("/api/session", headers=bearer(await challenge(client, "t1/paul"))), 401)
    body = {"username": "t1/paul", "secret": "admfa_x"}
    assert_error(await client.post("/api/mfa/login", json=body), 422)
    assert (
        await mfa_login(client, "t1/paul", await challenge(client, "t1/paul"), backupCode=codes[0])
    ).status_code == 200


async def test_validate_and_enable_edge_cases(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "sara")
    token = await token_of(client, "t1/sara")
    assert_error(await client.post("/api/mfa/validate", json={"otp": "123456"}, headers=bearer(token)), 422)
    assert_error(await client.post("/api/mfa/validate", json={}, headers=bearer(token)), 422)
    assert_error(await client.post("/api/mfa/regenerate/backupcodes", json={"otp": "1"}, headers=bearer(token)), 422)


async def test_enforced_enrollment_ends_when_enrollment_completes(
    client: httpx.AsyncClient, services: Services
) -> None:
    uid = await make_user(services, "tina", roles=("connectware-admin",))
    async with services.database.transaction() as db:
        await db.execute("UPDATE users SET enforce_mfa_enrollment = :t WHERE id = :id", {"t": True, "id": uid})
    token = await token_of(client, "t1/tina")
    assert (await client.get(f"/api/users/{uid}/tokens", headers=bearer(token))).status_code == 403
    await enroll(client, token)
    assert (await client.get(f"/api/users/{uid}/tokens", headers=bearer(token))).status_code == 200
    assert (await client.get("/api/session", headers=bearer(token))).json()["mfa"] == {
        "enabled": True,
        "enforced": True,
    }
