"""The own account page: two-factor sign-in, password, API tokens (no browser), on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import httpx

from admittance.bootstrap import Services
from admittance.settings import Settings
from tests.support.accounts import PASSWORD, enroll_mfa, make_user, user_named
from tests.support.console import ConsoleClient, another_console, csrf_of

_TOKEN = re.compile(r'id="new-token" class="token-once" type="text" value="(adm_[^"]+)"')
NEW_PASSWORD = "brand-New-Secret-2026"


async def _signed_in(console: ConsoleClient, services: Services, username: str, roles: tuple[str, ...] = ()) -> None:
    await make_user(services, username, roles)
    assert (await console.sign_in(username, PASSWORD)).status_code == 303


async def _sign_in_with_backup_code(console: ConsoleClient, username: str, code: str) -> None:
    """The password, then a backup code on the code step (ConsoleClient.sign_in sends TOTP codes)."""
    form = await console.http.get("/console/sign-in")
    answer = await console.http.post(
        "/console/sign-in",
        data={"csrf_token": csrf_of(form.text), "username": username, "password": PASSWORD, "next": "/console/"},
    )
    assert answer.headers["location"].startswith("/console/sign-in/code")
    step = await console.http.get(answer.headers["location"])
    done = await console.http.post(
        "/console/sign-in/code", data={"csrf_token": csrf_of(step.text), "backup_code": code, "next": "/console/"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/console/"


async def _api_session(client: httpx.AsyncClient, token: str) -> int:
    answer = await client.get("/api/session", headers={"authorization": f"Bearer {token}"})
    return answer.status_code


async def test_the_account_page_is_for_every_signed_in_user(console: ConsoleClient, services: Services) -> None:
    await _signed_in(console, services, "plain", ("minimum-access",))
    page = await console.get("/console/account")
    assert page.status_code == 200
    assert "<h1>Your account</h1>" in page.text
    assert 'href="/console/account/mfa/enroll"' in page.text  # not set up: the way to set it up
    assert "this session" in page.text
    assert 'action="/console/sign-out-everywhere"' in page.text
    # Linked from the header of every page.
    assert 'href="/console/account"' in (await console.get("/console/")).text


async def test_change_the_own_password(console: ConsoleClient, services: Services, settings: Settings) -> None:
    await _signed_in(console, services, "changer")
    async with another_console(settings, services) as elsewhere:
        assert (await elsewhere.sign_in("changer", PASSWORD)).status_code == 303

        wrong = await console.post(
            "/console/account/password",
            {"password": "not-it", "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
        )
        assert wrong.status_code == 303
        assert "current password is not correct" in (await console.get("/console/account")).text
        mismatch = await console.post(
            "/console/account/password",
            {"password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD + "x"},
        )
        assert mismatch.status_code == 303
        assert "not the same" in (await console.get("/console/account")).text
        weak = await console.post(
            "/console/account/password", {"password": PASSWORD, "new_password": "short", "new_password_again": "short"}
        )
        assert weak.status_code == 303
        assert "flash-error" in (await console.get("/console/account")).text

        done = await console.post(
            "/console/account/password",
            {"password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
        )
        assert done.status_code == 303
        page = await console.get("/console/account")
        assert page.status_code == 200  # this session stays
        assert "Your password was changed. 1 other sessions and tokens were ended." in page.text
        assert (await elsewhere.get("/console/")).status_code == 303  # the other one ended
        assert (await elsewhere.sign_in("changer", PASSWORD)).status_code == 401
        assert (await elsewhere.sign_in("changer", NEW_PASSWORD)).status_code == 303


async def test_create_use_and_revoke_an_api_token(
    console: ConsoleClient, services: Services, client: httpx.AsyncClient
) -> None:
    await _signed_in(console, services, "automation", ("ROLE_DEVICE_CONTROL_READ",))
    no_label = await console.post("/console/account/tokens", {"label": "", "days": "30", "password": PASSWORD})
    assert no_label.status_code == 303
    assert "Give the token a label" in (await console.get("/console/account")).text
    wrong = await console.post("/console/account/tokens", {"label": "ci", "days": "30", "password": "wrong-one"})
    assert wrong.status_code == 303
    assert "No token was made" in (await console.get("/console/account")).text

    made = await console.post("/console/account/tokens", {"label": "ci pipeline", "days": "30", "password": PASSWORD})
    assert made.status_code == 200
    assert "shown only once" in made.text
    found = _TOKEN.search(made.text)
    assert found, made.text
    token = found.group(1)
    assert await _api_session(client, token) == 200

    page = await console.get("/console/account")
    assert "ci pipeline" in page.text
    user = await user_named(services, "automation")
    assert user is not None
    (labelled,) = [t for t in user.tokens if t.label == "ci pipeline"]
    assert (labelled.expires_at - labelled.created_at).days == 30
    assert token not in page.text  # shown once, never again

    revoked = await console.post("/console/account/tokens/revoke", {"token": labelled.id})
    assert revoked.status_code == 303
    assert "The token was revoked." in (await console.get("/console/account")).text
    assert await _api_session(client, token) == 401


async def test_the_own_page_cannot_revoke_another_users_token(
    console: ConsoleClient, services: Services, settings: Settings
) -> None:
    await _signed_in(console, services, "mallory")
    await make_user(services, "victim")
    async with another_console(settings, services) as theirs:
        assert (await theirs.sign_in("victim", PASSWORD)).status_code == 303
        victim = await user_named(services, "victim")
        assert victim is not None
        (session,) = victim.tokens
        answer = await console.post("/console/account/tokens/revoke", {"token": session.id})
        assert answer.status_code == 303
        assert "already ended" in (await console.get("/console/account")).text
        assert (await theirs.get("/console/")).status_code == 200


async def test_two_factor_sign_in_backup_codes_tokens_and_turning_it_off(
    console: ConsoleClient, services: Services, client: httpx.AsyncClient
) -> None:
    await make_user(services, "careful")
    _secret, codes = await enroll_mfa(services, "careful")
    await _sign_in_with_backup_code(console, "careful", codes[0])
    page = await console.get("/console/account")
    assert "Get new backup codes" in page.text
    assert 'id="token-code"' in page.text  # a token needs the code too

    refused = await console.post("/console/account/mfa/backup-codes", {"code": "ABCDEFGHJKLM"})
    assert refused.status_code == 303
    assert "not accepted" in (await console.get("/console/account")).text
    fresh = await console.post("/console/account/mfa/backup-codes", {"code": codes[1]})
    assert fresh.status_code == 200
    new_codes = re.findall(r"<li><code>([^<]+)</code></li>", fresh.text)
    assert len(new_codes) == 12
    assert not set(new_codes) & set(codes)
    # The old codes stopped working.
    assert (await console.post("/console/account/mfa/disable", {"code": codes[2]})).status_code == 303
    user = await user_named(services, "careful")
    assert user is not None
    assert user.mfa_enrolled

    without_code = await console.post("/console/account/tokens", {"label": "x", "days": "1", "password": PASSWORD})
    assert without_code.status_code == 303
    assert "Enter the code" in (await console.get("/console/account")).text
    made = await console.post(
        "/console/account/tokens", {"label": "x", "days": "1", "password": PASSWORD, "code": new_codes[0]}
    )
    assert made.status_code == 200
    found = _TOKEN.search(made.text)
    assert found
    assert await _api_session(client, found.group(1)) == 200

    off = await console.post("/console/account/mfa/disable", {"code": new_codes[1]})
    assert off.status_code == 303
    assert "Two-factor sign-in is off." in (await console.get("/console/account")).text
    user = await user_named(services, "careful")
    assert user is not None
    assert not user.mfa_enrolled


async def test_turning_off_a_required_second_factor_leads_to_setting_it_up_again(
    console: ConsoleClient, services: Services
) -> None:
    await make_user(services, "strict", enforce_mfa=True)
    _secret, codes = await enroll_mfa(services, "strict")
    await _sign_in_with_backup_code(console, "strict", codes[0])
    off = await console.post("/console/account/mfa/disable", {"code": codes[1]})
    assert off.status_code == 303
    assert off.headers["location"] == "/console/account/mfa/enroll"
    assert (await console.get("/console/account")).headers["location"] == "/console/account/mfa/enroll"
