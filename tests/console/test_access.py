"""Users and roles in the console, through the forms (no browser), on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from admittance.bootstrap import Services
from admittance.identity.directory_model import GrantMethod, GrantType, NewRole, NewUser
from admittance.identity.model import PresentedCredentials, UserKind
from admittance.kernel.access import Context, Operation, Permission
from admittance.settings import Settings
from tests.support.accounts import PASSWORD, admin_of, enroll_mfa, make_user, user_named
from tests.support.console import ConsoleClient, another_console


async def _api_session(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get("/api/session", headers={"authorization": f"Bearer {token}"})).status_code


async def test_the_user_list_searches_and_pages(admin_console: ConsoleClient, services: Services) -> None:
    for name in ("alice.ops", "bob.ops", "carol"):
        await make_user(services, name, ("ROLE_DEVICE_CONTROL_READ",))
    listed = await admin_console.get("/console/users")
    assert listed.status_code == 200
    for name in ("admin", "alice.ops", "bob.ops", "carol"):
        assert f">{name}</a>" in listed.text
    assert ">devicebootstrap</a>" not in listed.text  # system users only on request
    assert 'href="/console/users/new"' in listed.text

    found = await admin_console.get("/console/users", params={"q": "OPS"})
    assert ">alice.ops</a>" in found.text
    assert ">bob.ops</a>" in found.text
    assert ">carol</a>" not in found.text
    assert "2 users" in found.text

    # LIKE wildcards in the search are plain characters.
    assert ">alice.ops</a>" not in (await admin_console.get("/console/users", params={"q": "%"})).text
    nothing = await admin_console.get("/console/users", params={"q": "zz-nobody"})
    assert "No user matches" in nothing.text

    system = await admin_console.get("/console/users", params={"all": "1"})
    assert ">devicebootstrap</a>" in system.text

    # Certificate-only users: no password to hash, so 52 of them are quick to make.
    certificate_only = (GrantType(GrantMethod.CERTIFICATE, False),)
    await services.users.create_users(
        await admin_of(services),
        [NewUser(username=f"paged{i:03d}", password=None, grant_types=certificate_only) for i in range(52)],
    )
    first = await admin_console.get("/console/users", params={"q": "paged"})
    assert first.text.count(">paged") == 50
    assert 'rel="next"' in first.text
    second = await admin_console.get("/console/users", params={"q": "paged", "page": "2"})
    assert ">paged050</a>" in second.text
    assert ">paged051</a>" in second.text
    assert 'rel="prev"' in second.text
    assert 'rel="next"' not in second.text


async def test_create_a_user_with_roles_and_mfa_required(
    admin_console: ConsoleClient, services: Services, settings: Settings
) -> None:
    form = await admin_console.get("/console/users/new")
    assert form.status_code == 200
    assert 'value="ROLE_DEVICE_CONTROL_ADMIN"' in form.text
    assert 'value="ROLE_DEVICE"' not in form.text  # identity roles are the system's

    mismatch = await admin_console.post(
        "/console/users",
        {"username": "operator", "password": PASSWORD, "password_again": "other"},
        headers={"referer": "https://testserver/console/users/new"},
    )
    assert mismatch.status_code == 303
    assert mismatch.headers["location"] == "/console/users/new"
    assert await user_named(services, "operator") is None
    page = await admin_console.get("/console/users/new")
    assert "The two passwords are not the same." in page.text

    weak = await admin_console.post(
        "/console/users",
        {"username": "operator", "password": "short", "password_again": "short"},
        headers={"referer": "https://testserver/console/users/new"},
    )
    assert weak.status_code == 303
    assert await user_named(services, "operator") is None
    assert "flash-error" in (await admin_console.get("/console/users/new")).text

    created = await admin_console.post(
        "/console/users",
        {
            "username": "operator",
            "password": PASSWORD,
            "password_again": PASSWORD,
            "roles": ["ROLE_DEVICE_CONTROL_ADMIN", "ROLE_INVENTORY_READ"],
            "enforce_mfa": "on",
        },
    )
    assert created.status_code == 303
    user = await user_named(services, "operator")
    assert user is not None
    assert created.headers["location"] == f"/console/users/{user.id}"
    assert user.role_ids == {"ROLE_DEVICE_CONTROL_ADMIN", "ROLE_INVENTORY_READ"}
    assert user.enforce_mfa_enrollment
    detail = await admin_console.get(created.headers["location"])
    assert "The user operator was created." in detail.text
    assert "required" in detail.text

    # The new user signs in, and is sent to set up two-factor sign-in first.
    async with another_console(settings, services) as theirs:
        answer = await theirs.sign_in("operator", PASSWORD)
        assert answer.headers["location"] == "/console/account/mfa/enroll"


async def test_editing_a_device_users_roles_keeps_its_identity_role(
    admin_console: ConsoleClient, services: Services
) -> None:
    await services.identity.create_user(
        "t1", "device_sensor1", "device-Secret-31415", ["ROLE_DEVICE"], kind=UserKind.DEVICE, generated=True
    )
    device = await user_named(services, "device_sensor1")
    assert device is not None
    listed = await admin_console.get("/console/users", params={"all": "1"})
    assert ">device_sensor1</a>" in listed.text
    assert ">device_sensor1</a>" not in (await admin_console.get("/console/users")).text
    page = await admin_console.get(f"/console/users/{device.id}")
    assert 'value="ROLE_DEVICE"' not in page.text  # not offered: the system's
    saved = await admin_console.post(f"/console/users/{device.id}", {"roles": ["ROLE_INVENTORY_READ"]})
    assert saved.status_code == 303
    after = await user_named(services, "device_sensor1")
    assert after is not None
    assert after.role_ids == {"ROLE_DEVICE", "ROLE_INVENTORY_READ"}


async def test_edit_roles_and_refuse_escalation(
    admin_console: ConsoleClient, services: Services, settings: Settings
) -> None:
    user = await make_user(services, "editor", ("ROLE_DEVICE_CONTROL_READ",))
    saved = await admin_console.post(
        f"/console/users/{user.id}", {"roles": ["ROLE_USER_MANAGEMENT_ADMIN", "ROLE_INVENTORY_READ"]}
    )
    assert saved.status_code == 303
    changed = await user_named(services, "editor")
    assert changed is not None
    assert changed.role_ids == {"ROLE_USER_MANAGEMENT_ADMIN", "ROLE_INVENTORY_READ"}
    assert not changed.enforce_mfa_enrollment

    # A user administrator (not a full one) cannot hand out connectware-admin, nor take it.
    async with another_console(settings, services) as theirs:
        assert (await theirs.sign_in("editor", PASSWORD)).status_code == 303
        target = await make_user(services, "target", ("ROLE_INVENTORY_READ",))
        page = await theirs.get(f"/console/users/{target.id}")
        assert page.status_code == 200
        refused = await theirs.post(
            f"/console/users/{target.id}",
            {"roles": ["connectware-admin"]},
            headers={"referer": f"https://testserver/console/users/{target.id}"},
        )
        assert refused.status_code == 403
        assert "You cannot grant" in refused.text
        after = await user_named(services, "target")
        assert after is not None
        assert after.role_ids == {"ROLE_INVENTORY_READ"}
        # Nor change the admin, who holds more than they do: no buttons, and refused.
        admin = await user_named(services, "admin")
        assert admin is not None
        admin_page = await theirs.get(f"/console/users/{admin.id}")
        assert admin_page.status_code == 200
        assert "/disable" not in admin_page.text
        assert "Delete user" not in admin_page.text
        assert "Disable" in (await theirs.get(f"/console/users/{target.id}")).text
        assert (await theirs.post(f"/console/users/{admin.id}/disable")).status_code == 403
        admin_after = await user_named(services, "admin")
        assert admin_after is not None
        assert admin_after.enabled


async def test_disable_ends_the_sessions_and_enable_lets_the_user_back(
    admin_console: ConsoleClient, services: Services, settings: Settings, client: httpx.AsyncClient
) -> None:
    user = await make_user(services, "worker", ("ROLE_DEVICE_CONTROL_READ",))
    login = await services.sessions.login(PresentedCredentials("t1", "worker", PASSWORD, "test"), 24, "script")
    assert login.token is not None
    api_token = login.token
    assert await _api_session(client, api_token) == 200
    async with another_console(settings, services) as theirs:
        assert (await theirs.sign_in("worker", PASSWORD)).status_code == 303
        assert (await theirs.get("/console/")).status_code == 200

        disabled = await admin_console.post(f"/console/users/{user.id}/disable")
        assert disabled.status_code == 303
        found = await user_named(services, "worker")
        assert found is not None
        assert not found.enabled
        detail = await admin_console.get(f"/console/users/{user.id}")
        assert "is disabled" in detail.text
        assert "badge-disabled" in detail.text
        assert 'action="/console/users/' + str(user.id) + '/enable"' in detail.text

        assert await _api_session(client, api_token) == 401  # API tokens too
        signed_out = await theirs.get("/console/")
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith("/console/sign-in")
        assert (await theirs.sign_in("worker", PASSWORD)).status_code == 401

        assert (await admin_console.post(f"/console/users/{user.id}/enable")).status_code == 303
        assert (await theirs.sign_in("worker", PASSWORD)).status_code == 303

    # Nobody disables themselves.
    admin = await user_named(services, "admin")
    assert admin is not None
    own = await admin_console.post(
        f"/console/users/{admin.id}/disable", headers={"referer": f"https://testserver/console/users/{admin.id}"}
    )
    assert own.status_code == 303
    assert "cannot disable your own account" in (await admin_console.get(own.headers["location"])).text
    again = await user_named(services, "admin")
    assert again is not None
    assert again.enabled


async def test_reset_mfa_and_revoke_tokens_of_a_user(
    admin_console: ConsoleClient, services: Services, settings: Settings
) -> None:
    user = await make_user(services, "phone.lost", ("ROLE_DEVICE_CONTROL_READ",))
    await enroll_mfa(services, "phone.lost")
    detail = await admin_console.get(f"/console/users/{user.id}")
    assert "Set up" in detail.text
    reset = await admin_console.post(f"/console/users/{user.id}/reset-mfa")
    assert reset.status_code == 303
    after = await user_named(services, "phone.lost")
    assert after is not None
    assert not after.mfa_enrolled
    assert "was reset" in (await admin_console.get(reset.headers["location"])).text

    async with another_console(settings, services) as first, another_console(settings, services) as second:
        assert (await first.sign_in("phone.lost", PASSWORD)).status_code == 303
        assert (await second.sign_in("phone.lost", PASSWORD)).status_code == 303
        listed = await admin_console.get(f"/console/users/{user.id}")
        tokens = [token.id for token in (await services.users.get_user(await admin_of(services), user.id)).tokens]
        assert len(tokens) == 2
        for token_id in tokens:
            assert f'aria-label="Revoke the token {token_id}"' in listed.text

        one = await admin_console.post(f"/console/users/{user.id}/tokens/revoke", {"token": tokens[0]})
        assert one.status_code == 303
        statuses = sorted([(await first.get("/console/")).status_code, (await second.get("/console/")).status_code])
        assert statuses == [200, 303]

        everything = await admin_console.post(f"/console/users/{user.id}/tokens/revoke", {})
        assert everything.status_code == 303
        assert (await first.get("/console/")).status_code == 303
        assert (await second.get("/console/")).status_code == 303
        assert "not signed in anywhere" in (await admin_console.get(f"/console/users/{user.id}")).text


async def test_delete_a_user(admin_console: ConsoleClient, services: Services) -> None:
    user = await make_user(services, "leaver")
    detail = await admin_console.get(f"/console/users/{user.id}")
    assert "Delete user" in detail.text
    deleted = await admin_console.post(f"/console/users/{user.id}/delete")
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/console/users"
    assert await user_named(services, "leaver") is None
    gone = await admin_console.get(f"/console/users/{user.id}")
    assert gone.status_code == 404
    admin = await user_named(services, "admin")
    assert admin is not None
    assert "Delete user" not in (await admin_console.get(f"/console/users/{admin.id}")).text


async def test_roles_create_permissions_rename_delete(admin_console: ConsoleClient, services: Services) -> None:
    listed = await admin_console.get("/console/roles")
    assert listed.status_code == 200
    assert "No custom roles yet" in listed.text
    assert "ROLE_DEVICE_CONTROL_ADMIN" in listed.text
    assert "Manage device registrations" in listed.text

    created = await admin_console.post("/console/roles", {"name": "registrations-reader", "shared": "on"})
    assert created.status_code == 303
    roles = [r for r in await services.roles.list_roles(await admin_of(services)) if not r.builtin]
    assert [r.name for r in roles] == ["registrations-reader"]
    role = roles[0]
    assert created.headers["location"] == f"/console/roles/{role.id}"
    page = await admin_console.get(created.headers["location"])
    assert "This role grants nothing yet" in page.text

    bad = await admin_console.post(
        f"/console/roles/{role.id}/permissions",
        {"context": "http", "operation": "read", "resource": "devicecontrol/#"},
        headers={"referer": f"https://testserver/console/roles/{role.id}"},
    )
    assert bad.status_code == 303
    assert "must start with" in (await admin_console.get(bad.headers["location"])).text

    added = await admin_console.post(
        f"/console/roles/{role.id}/permissions",
        {"context": "http", "operation": "read", "resource": "/devicecontrol/#"},
    )
    assert added.status_code == 303
    role = await services.roles.get_role(await admin_of(services), role.id)
    assert role.granted == {Permission(Context.HTTP, Operation.READ, "/devicecontrol/#")}
    page = await admin_console.get(f"/console/roles/{role.id}")
    assert "<code>/devicecontrol/#</code>" in page.text

    assert "Nobody holds this role yet" in page.text
    holder = await make_user(services, "holder", (role.id,))
    page = await admin_console.get(f"/console/roles/{role.id}")
    assert f'<a href="/console/users/{holder.id}">holder</a>' in page.text

    renamed = await admin_console.post(f"/console/roles/{role.id}", {"name": "queue-readers"})
    assert renamed.status_code == 303
    role = await services.roles.get_role(await admin_of(services), role.id)
    assert role.name == "queue-readers"
    assert not role.is_shared

    (stored,) = role.permissions
    removed = await admin_console.post(f"/console/roles/{role.id}/permissions/{stored.id}/delete")
    assert removed.status_code == 303
    assert (await services.roles.get_role(await admin_of(services), role.id)).permissions == ()

    deleted = await admin_console.post(f"/console/roles/{role.id}/delete")
    assert deleted.status_code == 303
    assert (await admin_console.get(f"/console/roles/{role.id}")).status_code == 404


async def test_built_in_roles_are_read_only(admin_console: ConsoleClient, services: Services) -> None:
    page = await admin_console.get("/console/roles/ROLE_DEVICE_CONTROL_READ")
    assert page.status_code == 200
    assert "built-in, read-only" in page.text
    assert "<code>/devicecontrol/#</code>" in page.text
    assert "Add a permission" not in page.text
    assert "Delete role" not in page.text
    refused = await admin_console.post(
        "/console/roles/ROLE_DEVICE_CONTROL_READ/permissions",
        {"context": "http", "operation": "readWrite", "resource": "#"},
        headers={"referer": "https://testserver/console/roles/ROLE_DEVICE_CONTROL_READ"},
    )
    assert refused.status_code == 303
    assert "cannot be changed" in (await admin_console.get(refused.headers["location"])).text
    builtin = await services.roles.get_role(await admin_of(services), "ROLE_DEVICE_CONTROL_READ")
    assert builtin.granted == {Permission(Context.HTTP, Operation.READ, "/devicecontrol/#")}
    assert (await admin_console.post("/console/roles/ROLE_DEVICE_CONTROL_READ/delete")).status_code == 303
    assert await services.roles.get_role(await admin_of(services), "ROLE_DEVICE_CONTROL_READ")


async def test_a_role_holder_cannot_grant_more_than_they_hold(services: Services, settings: Settings) -> None:
    await make_user(services, "roles.admin", ("ROLE_USER_MANAGEMENT_ADMIN",))
    role = await services.roles.create_role(await admin_of(services), NewRole(name="empty"))
    async with another_console(settings, services) as theirs:
        assert (await theirs.sign_in("roles.admin", PASSWORD)).status_code == 303
        refused = await theirs.post(
            f"/console/roles/{role.id}/permissions", {"context": "http", "operation": "readWrite", "resource": "#"}
        )
        assert refused.status_code == 403
        assert (await services.roles.get_role(await admin_of(services), role.id)).permissions == ()
