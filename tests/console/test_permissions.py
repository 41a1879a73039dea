"""Permissions and CSRF across the whole console (no browser), on SQLite and PostgreSQL.

A user without admin roles gets 403 pages for every admin page of the navigation and for the admin
forms of every area, sees only the navigation it may use, and changes nothing; a form post without
this session's CSRF token, or from another site, is refused and changes nothing; a signed-out post
leads to the sign-in and changes nothing; sign-out everywhere ends the other sessions."""

from __future__ import annotations

import re

import pytest

from admittance.bootstrap import Services
from admittance.devices.model import RegistrationStatus
from admittance.devices.registration import NewRegistration
from admittance.http.console.core import NAV
from admittance.identity.directory_model import NewRole
from admittance.kernel.access import Context, Operation, Permission
from admittance.kernel.errors import NotFound
from admittance.settings import Settings
from tests.support.accounts import PASSWORD, admin_of, make_user, user_named
from tests.support.console import ConsoleClient, another_console
from tests.support.credentials import ADMIN_PASSWORD

_MAIN_NAV = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)
ADMIN_PAGES = [item.href for item in NAV if item.needs is not None]


def nav_links(page: str) -> list[str]:
    found = _MAIN_NAV.search(page)
    assert found, "the page has no main navigation"
    return re.findall(r'href="([^"]+)"', found.group(1))


async def _custom_role_id(services: Services) -> str:
    role = await services.roles.create_role(
        await admin_of(services),
        NewRole(name="readers", permissions=(Permission(Context.HTTP, Operation.READ, "/devicecontrol/#"),)),
    )
    return role.id


def _admin_posts(admin_id: int, role_id: str) -> list[tuple[str, dict[str, str]]]:
    """An admin form of every area, with the fields it needs."""
    return [
        ("/console/users", {"username": "intruder", "password": PASSWORD, "password_again": PASSWORD}),
        (f"/console/users/{admin_id}", {"roles": "minimum-access"}),
        (f"/console/users/{admin_id}/disable", {}),
        (f"/console/users/{admin_id}/reset-mfa", {}),
        (f"/console/users/{admin_id}/tokens/revoke", {}),
        (f"/console/users/{admin_id}/delete", {}),
        ("/console/roles", {"name": "sneaky"}),
        (f"/console/roles/{role_id}", {"name": "renamed"}),
        (f"/console/roles/{role_id}/permissions", {"context": "http", "operation": "readWrite", "resource": "#"}),
        (f"/console/roles/{role_id}/delete", {}),
        ("/console/registrations", {"id": "sneaky-device"}),
        ("/console/registrations/accept", {"id": "dev-1"}),
        ("/console/registrations/accept-all", {}),
        ("/console/registrations/block", {"id": "dev-1"}),
        ("/console/registrations/delete", {"id": "dev-1"}),
        ("/console/imports", {}),
        ("/console/imports/staged/1/import", {}),
        ("/console/devices/groups", {"name": "sneaky-group"}),
        ("/console/devices/1/delete", {}),
        ("/console/devices/1/rotate-password", {}),
        ("/console/devices/1/certificates/1A2B/revoke", {}),
        ("/console/claimed/claim", {"claim_token": "x"}),
        ("/console/claimed/tags", {"name": "sneaky-tag"}),
        ("/console/claimed/nrf-1/unclaim", {}),
        ("/console/claimed/nrf-1/block", {}),
        ("/console/certificates/1A2B/revoke", {}),
        ("/console/certificates/trusted", {"pem": "x"}),
        ("/console/client-registry/open", {"minutes": "5"}),
        ("/console/client-registry/close", {}),
        ("/console/client-registry/requests/t1/client1/grant", {}),
        ("/console/client-registry/requests/t1/client1/reject", {}),
    ]


async def _assert_nothing_changed(services: Services, admin_session_console: ConsoleClient) -> None:
    admin = await admin_of(services)
    assert await user_named(services, "intruder") is None
    found = await user_named(services, "admin")
    assert found is not None
    assert found.enabled
    assert "connectware-admin" in found.role_ids
    roles = [role for role in await services.roles.list_roles(admin) if not role.builtin]
    assert [role.name for role in roles if role.personal_user_id is None] == ["readers"]
    assert len(roles[0].permissions) == 1
    assert (await services.registrations.get(admin, "dev-1")).status is RegistrationStatus.WAITING_FOR_CONNECTION
    with pytest.raises(NotFound):
        await services.registrations.get(admin, "sneaky-device")
    # The admin's own session was not revoked.
    assert (await admin_session_console.get("/console/users")).status_code == 200


@pytest.mark.parametrize("roles", [("minimum-access",), ("nrf-cloud-viewer",)], ids=["minimum", "nrf-viewer"])
async def test_a_user_without_admin_roles_gets_403_everywhere(
    admin_console: ConsoleClient, services: Services, settings: Settings, roles: tuple[str, ...]
) -> None:
    admin_id = (await admin_of(services)).user_id
    role_id = await _custom_role_id(services)
    await services.registrations.create(await admin_of(services), NewRegistration(id="dev-1"))
    await make_user(services, "nobody", roles)
    async with another_console(settings, services) as theirs:
        assert (await theirs.sign_in("nobody", PASSWORD)).status_code == 303
        dashboard = await theirs.get("/console/")
        assert dashboard.status_code == 200
        allowed = nav_links(dashboard.text)
        expected = ["/console/"] + (["/console/claimed"] if "nrf-cloud-viewer" in roles else [])
        assert allowed == expected
        assert 'href="/console/account"' in dashboard.text
        assert (await theirs.get("/console/account")).status_code == 200

        for href in ADMIN_PAGES:
            if href in allowed:
                continue
            answer = await theirs.get(href)
            assert answer.status_code == 403, href
            assert "permission" in answer.text, href
            assert "<h1>" in answer.text
        for path in ("/console/users/new", f"/console/users/{admin_id}", f"/console/roles/{role_id}"):
            assert (await theirs.get(path)).status_code == 403, path

        for path, data in _admin_posts(admin_id, role_id):
            answer = await theirs.post(path, data)
            assert answer.status_code == 403, path
    await _assert_nothing_changed(services, admin_console)


async def test_a_read_only_user_sees_no_buttons_and_cannot_post(
    admin_console: ConsoleClient, services: Services, settings: Settings
) -> None:
    admin_id = (await admin_of(services)).user_id
    role_id = await _custom_role_id(services)
    await services.registrations.create(await admin_of(services), NewRegistration(id="dev-1"))
    await make_user(services, "auditor", ("ROLE_USER_MANAGEMENT_READ", "ROLE_DEVICE_CONTROL_READ"))
    async with another_console(settings, services) as theirs:
        assert (await theirs.sign_in("auditor", PASSWORD)).status_code == 303
        links = nav_links((await theirs.get("/console/")).text)
        assert links == ["/console/", "/console/registrations", "/console/users", "/console/roles"]

        users = await theirs.get("/console/users")
        assert users.status_code == 200
        assert ">admin</a>" in users.text
        assert "/console/users/new" not in users.text
        admin_page = await theirs.get(f"/console/users/{admin_id}")
        assert admin_page.status_code == 200
        for action in ("/disable", "/delete", "/tokens/revoke", "/reset-mfa", f'action="/console/users/{admin_id}"'):
            assert action not in admin_page.text, action
        roles = await theirs.get("/console/roles")
        assert roles.status_code == 200
        assert 'action="/console/roles"' not in roles.text
        role_page = await theirs.get(f"/console/roles/{role_id}")
        assert role_page.status_code == 200
        assert "Add a permission" not in role_page.text
        assert "Delete role" not in role_page.text
        assert "/permissions/" not in role_page.text
        queue = await theirs.get("/console/registrations")
        assert queue.status_code == 200

        for path, data in _admin_posts(admin_id, role_id):
            answer = await theirs.post(path, data)
            assert answer.status_code == 403, path
    await _assert_nothing_changed(services, admin_console)


async def test_a_post_without_this_sessions_csrf_token_or_from_another_site_is_refused(
    admin_console: ConsoleClient, services: Services, settings: Settings
) -> None:
    form = {"username": "intruder", "password": PASSWORD, "password_again": PASSWORD}
    await admin_console.get("/console/users/new")
    async with another_console(settings, services) as other:
        assert (await other.sign_in("admin", ADMIN_PASSWORD)).status_code == 303
        await other.get("/console/")
        foreign_token = other.csrf
    assert foreign_token != admin_console.csrf

    missing = await admin_console.http.post("/console/users", data=form)
    assert missing.status_code == 403
    assert "Reload the page" in missing.text
    assert (await admin_console.post("/console/users", form, csrf="")).status_code == 403
    assert (await admin_console.post("/console/users", form, csrf="x" * 43)).status_code == 403
    assert (await admin_console.post("/console/users", form, csrf=foreign_token)).status_code == 403
    evil = await admin_console.post("/console/users", form, headers={"origin": "https://evil.example"})
    assert evil.status_code == 403
    assert "another site" in evil.text
    assert (await admin_console.post("/console/users", form, headers={"origin": "null"})).status_code == 403
    assert await user_named(services, "intruder") is None
    # A form-less POST (e.g. a cross-site fetch with another content type) is refused the same way.
    raw = await admin_console.http.post("/console/users", content=b"{}", headers={"content-type": "application/json"})
    assert raw.status_code == 403
    assert await user_named(services, "intruder") is None

    # The same form with this session's token, from this site, goes through: the checks above are real.
    done = await admin_console.post("/console/users", form, headers={"origin": "https://testserver"})
    assert done.status_code == 303
    assert await user_named(services, "intruder") is not None


async def test_a_signed_out_post_leads_to_the_sign_in_and_changes_nothing(
    console: ConsoleClient, services: Services
) -> None:
    form = {"username": "intruder", "password": PASSWORD, "password_again": PASSWORD}
    answer = await console.post("/console/users", form, csrf="anything")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in"
    assert await user_named(services, "intruder") is None
    admin_id = (await admin_of(services)).user_id
    assert (await console.post(f"/console/users/{admin_id}/disable", csrf="anything")).status_code == 303
    found = await user_named(services, "admin")
    assert found is not None
    assert found.enabled
    visit = await console.get("/console/users")
    assert visit.status_code == 303
    assert visit.headers["location"] == "/console/sign-in?next=/console/users"


async def test_sign_out_everywhere_ends_the_other_sessions(
    admin_console: ConsoleClient, services: Services, settings: Settings
) -> None:
    async with another_console(settings, services) as laptop:
        assert (await laptop.sign_in("admin", ADMIN_PASSWORD)).status_code == 303
        assert (await laptop.get("/console/users")).status_code == 200
        ended = await admin_console.post("/console/sign-out-everywhere")
        assert ended.status_code == 303
        assert ended.headers["location"] == "/console/sign-in"
        assert (await admin_console.get("/console/")).status_code == 303
        elsewhere = await laptop.get("/console/users")
        assert elsewhere.status_code == 303
        assert elsewhere.headers["location"].startswith("/console/sign-in")
    admin = await services.users.get_user(await admin_of(services), (await admin_of(services)).user_id)
    assert admin.tokens == ()
