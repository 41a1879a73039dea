"""Signing in and out through the forms (no browser), on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from admittance.bootstrap import Services
from admittance.identity.directory_model import NewUser
from admittance.identity.model import PresentedCredentials
from tests.support.console import ConsoleClient, csrf_of, current_code, manual_key_of
from tests.support.credentials import ADMIN_PASSWORD

OPERATOR_PASSWORD = "operator-Secret-789"


async def test_sign_in_leads_to_the_dashboard_and_sign_out_ends_the_session(console: ConsoleClient) -> None:
    answer = await console.sign_in("admin", ADMIN_PASSWORD)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/"
    dashboard = await console.get("/console/")
    assert dashboard.status_code == 200
    assert "Dashboard" in dashboard.text
    assert "default-src 'self'" in dashboard.headers["content-security-policy"]
    signed_out = await console.post("/console/sign-out")
    assert signed_out.status_code == 303
    again = await console.get("/console/")
    assert again.status_code == 303
    assert again.headers["location"].startswith("/console/sign-in")


async def _user_with_mfa_enforced(services: Services, username: str = "operator") -> None:
    admin = await services.identity.authenticate(PresentedCredentials("t1", "admin", ADMIN_PASSWORD, "test"))
    await services.users.create_user(
        admin,
        NewUser(
            username=username, password=OPERATOR_PASSWORD, roles=("connectware-admin",), enforce_mfa_enrollment=True
        ),
    )


async def _enroll(console: ConsoleClient) -> tuple[str, list[str]]:
    """Forced enrollment after the password: the QR page, then the first code; (secret, backup codes)."""
    answer = await console.sign_in("operator", OPERATOR_PASSWORD)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/account/mfa/enroll"
    # Every other page leads back to the enrollment while it is outstanding.
    elsewhere = await console.get("/console/")
    assert elsewhere.headers["location"] == "/console/account/mfa/enroll"
    enroll = await console.get("/console/account/mfa/enroll")
    assert "<svg" in enroll.text
    secret = manual_key_of(enroll.text)
    # Reloading shows the same key: the secret just scanned is not replaced.
    assert manual_key_of((await console.get("/console/account/mfa/enroll")).text) == secret
    wrong = await console.post(
        "/console/account/mfa/enroll", {"code": "000000" if current_code(secret) != "000000" else "111111"}
    )
    assert wrong.status_code == 422
    assert "not right" in wrong.text
    done = await console.post("/console/account/mfa/enroll", {"code": current_code(secret)})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([^<]+)</code></li>", done.text)
    assert len(codes) == 12
    return secret, codes


async def test_forced_enrollment_then_sign_in_with_a_code_or_a_backup_code(
    console: ConsoleClient, services: Services
) -> None:
    await _user_with_mfa_enforced(services)
    secret, backup_codes = await _enroll(console)
    assert (await console.get("/console/")).status_code == 200
    await console.post("/console/sign-out")

    # The enrollment used the current time step's code, and a used step is refused: the next step's
    # code is within the accepted window (one step either side).
    answer = await console.sign_in("operator", OPERATOR_PASSWORD, code=current_code(secret, ahead=1))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/"
    assert (await console.get("/console/")).status_code == 200
    await console.post("/console/sign-out")

    answer = await console.http.post("/console/sign-in", data=await _sign_in_form(console, "operator"))
    assert answer.headers["location"].startswith("/console/sign-in/code")
    step = await console.http.get(answer.headers["location"])
    answer = await console.http.post(
        "/console/sign-in/code",
        data={"csrf_token": csrf_of(step.text), "backup_code": backup_codes[0], "next": "/console/"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/"


async def test_a_wrong_code_starts_the_sign_in_again_without_a_session(
    console: ConsoleClient, services: Services
) -> None:
    await _user_with_mfa_enforced(services)
    await _enroll(console)
    await console.post("/console/sign-out")
    answer = await console.http.post("/console/sign-in", data=await _sign_in_form(console, "operator"))
    step = await console.http.get(answer.headers["location"])
    refused = await console.http.post(
        "/console/sign-in/code", data={"csrf_token": csrf_of(step.text), "code": "12345x"}
    )
    assert refused.status_code == 303
    assert refused.headers["location"].startswith("/console/sign-in")
    assert (await console.http.get("/console/")).status_code == 303
    page = await console.http.get(refused.headers["location"])
    assert "The code was not accepted" in page.text


async def _sign_in_form(console: ConsoleClient, username: str) -> dict[str, str]:
    form = await console.http.get("/console/sign-in")
    return {"csrf_token": csrf_of(form.text), "username": username, "password": OPERATOR_PASSWORD, "next": "/console/"}


async def test_the_sign_in_form_refuses_a_post_without_its_token(console: ConsoleClient) -> None:
    await console.http.get("/console/sign-in")
    answer = await console.http.post("/console/sign-in", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert answer.status_code == 403
    assert "expired" in answer.text
    assert (await console.http.get("/console/")).status_code == 303


async def test_after_sign_in_only_console_paths_are_followed(console: ConsoleClient) -> None:
    form = await console.http.get("/console/sign-in?next=https://evil.example/")
    assert 'value="/console/"' in form.text
    answer = await console.http.post(
        "/console/sign-in",
        data={
            "csrf_token": csrf_of(form.text),
            "username": "admin",
            "password": ADMIN_PASSWORD,
            "next": "//evil.example/x",
        },
    )
    assert answer.headers["location"] == "/console/"


async def test_a_signed_out_visit_remembers_the_page(console: ConsoleClient) -> None:
    answer = await console.http.get("/console/account/mfa/enroll?from=x")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=/console/account/mfa/enroll%3Ffrom%3Dx"


async def test_a_browser_at_the_root_goes_to_the_console_and_an_api_client_gets_json(console: ConsoleClient) -> None:
    browser = await console.http.get("/", headers={"accept": "text/html,application/xhtml+xml"})
    assert browser.status_code == 303
    assert browser.headers["location"] == "/console/"
    api = await console.http.get("/", headers={"accept": "application/json"})
    assert api.json()["console"] == "/console/"


async def test_an_unknown_console_page_is_a_readable_page(console: ConsoleClient) -> None:
    answer = await console.http.get("/console/no-such-page")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "There is no such page" in answer.text
