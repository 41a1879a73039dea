"""The console's device registry pages (devices, groups, a device's credentials, certificates and
history) over the in-process app, on SQLite and PostgreSQL: what each page shows, what each form
changes (through the services, audited), and what a user without the roles can neither see nor do."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from admittance.audit import AuditEvent, AuditTag
from admittance.bootstrap import Services
from admittance.identity import UserKind
from tests.support import secrets
from tests.support.console import ConsoleClient
from tests.support.cumulocity import basic, call
from tests.support.pki import ec_key, make_csr

MO = "/inventory/managedObjects"
DEVICE_PASSWORD = "device-Secret-789"
PERSON_PASSWORD = "person-Secret-789"
_NEW_PASSWORD = re.compile(r'id="new-password">([A-Za-z0-9]+)<')


async def device(console: ConsoleClient, services: Services, name: str, **fragments: Any) -> dict[str, Any]:
    """A device as the registry knows one: its own user, its managed object (created with its
    credentials) and its serial as external id."""
    await services.identity.create_user(
        "t1", f"device_{name}", DEVICE_PASSWORD, ["ROLE_DEVICE"], kind=UserKind.DEVICE, generated=True
    )
    auth = basic(f"t1/device_{name}", DEVICE_PASSWORD)
    body = {"name": name, "type": "thermostat", "c8y_IsDevice": {}, **fragments}
    created = await call(console.http, "POST", MO, body, auth=auth)
    assert created.status_code == 201, created.text
    mo: dict[str, Any] = created.json()
    external = {"type": "c8y_Serial", "externalId": name}
    answer = await call(console.http, "POST", f"/identity/globalIds/{mo['id']}/externalIds", external, auth=auth)
    assert answer.status_code == 201, answer.text
    return mo


async def group(console: ConsoleClient, name: str) -> str:
    answer = await console.post("/console/devices/groups", {"name": name})
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].rsplit("/", 1)[1]


async def current_user(console: ConsoleClient, user: str, password: str) -> int:
    return (await call(console.http, "GET", "/user/currentUser", auth=basic(f"t1/{user}", password))).status_code


async def person(services: Services, console: ConsoleClient, name: str, roles: list[str]) -> ConsoleClient:
    """Signs the same console client in as another user (the admin's session cookie is replaced)."""
    await services.identity.create_user("t1", name, PERSON_PASSWORD, roles)
    console.http.cookies.clear()
    answer = await console.sign_in(name, PERSON_PASSWORD)
    assert answer.status_code == 303, answer.text
    return console


async def test_the_list_searches_by_name_type_and_external_id_and_pages(
    admin_console: ConsoleClient, services: Services
) -> None:
    empty = await admin_console.get("/console/devices")
    assert empty.status_code == 200
    assert "No devices yet" in empty.text
    assert 'href="/console/registrations"' in empty.text
    for n in range(27):
        await device(admin_console, services, f"dev-{n:02d}")
    await call(admin_console.http, "POST", MO, {"name": "not a device"})
    first = await admin_console.get("/console/devices")
    assert first.text.count('href="/console/devices/') >= 25
    assert "dev-00" in first.text
    assert "dev-24" in first.text
    assert "dev-25" not in first.text
    assert "not a device" not in first.text
    assert 'href="/console/devices?page=2"' in first.text.replace("kind=devices&amp;", "")
    second = await admin_console.get("/console/devices?page=2")
    assert "dev-25" in second.text
    assert "dev-26" in second.text
    assert "dev-00" not in second.text
    found = await admin_console.get("/console/devices?q=DEV-1")  # case-insensitive substring of the name
    assert re.findall(r">(dev-\d\d)<", found.text) == [f"dev-{n}" for n in range(10, 20)]
    by_type = await admin_console.get("/console/devices?q=thermo&page=2")
    assert "dev-25" in by_type.text
    everything = await admin_console.get("/console/devices?kind=all&q=not+a")
    assert "not a device" in everything.text
    nothing = await admin_console.get("/console/devices?q=zzz")
    assert "Nothing matches" in nothing.text
    bad = await admin_console.get("/console/devices?kind=cats")
    assert bad.status_code == 400
    assert "The kind must be" in bad.text


async def test_an_id_finds_the_object_and_a_group_filters_the_list(
    admin_console: ConsoleClient, services: Services
) -> None:
    one = await device(admin_console, services, "alpha")
    two = await device(admin_console, services, "beta")
    site = await group(admin_console, "Site North")
    added = await admin_console.post(f"/console/devices/{one['id']}/groups", {"group": site})
    assert added.status_code == 303
    found = await admin_console.get(f"/console/devices?q={two['id']}")
    assert f'Managed object {two["id"]} is <a href="/console/devices/{two["id"]}">beta</a>' in found.text
    in_group = await admin_console.get(f"/console/devices?group={site}")
    assert ">alpha<" in in_group.text
    assert ">beta<" not in in_group.text
    assert "Site North" in in_group.text  # the groups column and the filter


async def test_groups_are_created_listed_and_hold_members(admin_console: ConsoleClient, services: Services) -> None:
    empty = await admin_console.get("/console/devices/groups")
    assert "No groups yet" in empty.text
    refused = await admin_console.post(
        "/console/devices/groups", {"name": ""}, headers={"referer": "/console/devices/groups"}
    )
    assert refused.status_code == 303
    assert "Give the group a name" in (await admin_console.get(refused.headers["location"])).text
    site = await group(admin_console, "Site South")
    thing = await device(admin_console, services, "gamma")
    listed = await admin_console.get("/console/devices/groups")
    assert f'href="/console/devices/groups/{site}">Site South<' in listed.text
    page = await admin_console.get(f"/console/devices/groups/{site}")
    assert "This group is empty" in page.text
    added = await admin_console.post(f"/console/devices/groups/{site}/members", {"member": thing["id"]})
    assert added.status_code == 303
    page = await admin_console.get(f"/console/devices/groups/{site}")
    assert f'href="/console/devices/{thing["id"]}">gamma<' in page.text
    assert "Remove gamma from this group" in page.text
    cycle = await admin_console.post(
        f"/console/devices/{site}/groups", {"group": site}, headers={"referer": f"/console/devices/{site}"}
    )
    assert cycle.status_code == 303
    assert "cannot become" in (await admin_console.get(cycle.headers["location"])).text
    removed = await admin_console.post(
        f"/console/devices/{thing['id']}/groups/{site}/remove", headers={"referer": f"/console/devices/groups/{site}"}
    )
    assert (removed.status_code, removed.headers["location"]) == (303, f"/console/devices/groups/{site}")
    async with services.storage.read() as tx:
        events = await tx.audit.list_for_subject("t1", site)
    assert [e.tag.value for e in events] == [
        "inventory:managed-object:create",
        "inventory:child-asset:assign",
        "inventory:child-asset:unassign",
    ]
    deleted = await admin_console.post(f"/console/devices/{site}/delete")
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/console/devices/groups")
    assert (await admin_console.get(f"/console/devices/groups/{site}")).status_code == 404


async def test_the_detail_shows_ids_fragments_groups_credentials_and_history(
    admin_console: ConsoleClient, services: Services
) -> None:
    mo = await device(admin_console, services, "delta", c8y_Hardware={"model": "X<1>", "serialNumber": "S-9"})
    site = await group(admin_console, "Lab")
    await admin_console.post(f"/console/devices/{mo['id']}/groups", {"group": site})
    page = await admin_console.get(f"/console/devices/{mo['id']}")
    assert page.status_code == 200
    text = page.text
    assert "<h1>delta</h1>" in text
    assert "c8y_Serial</span> <code>delta</code>" in text
    assert "&#34;model&#34;: &#34;X&lt;1&gt;&#34;" in text  # the fragment as indented JSON, escaped
    assert f'href="/console/devices/groups/{site}">Lab<' in text
    assert "t1/device_delta" in text
    assert "badge-enabled" in text
    assert '<span class="tag">password</span>' in text
    assert "Set a new random password" in text
    assert "No certificate was issued to this device." in text
    for tag in ("inventory:managed-object:create", "inventory:external-id:create", "identity:user:create"):
        assert tag in text
    assert (await admin_console.get("/console/devices/999999")).status_code == 404
    assert (await admin_console.get("/console/devices/abc")).status_code == 404


async def test_a_new_password_is_shown_once_and_the_old_one_stops_working_at_once(
    admin_console: ConsoleClient, services: Services
) -> None:
    mo = await device(admin_console, services, "epsilon")
    for _ in range(2):  # the second answer comes from the verified-credential cache
        assert await current_user(admin_console, "device_epsilon", DEVICE_PASSWORD) == 200
    answer = await admin_console.post(f"/console/devices/{mo['id']}/rotate-password")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    found = _NEW_PASSWORD.search(answer.text)
    assert found, answer.text
    new = found.group(1)
    secrets.register(new)  # must never show in a log
    assert len(new) == 32
    assert await current_user(admin_console, "device_epsilon", DEVICE_PASSWORD) == 401
    assert await current_user(admin_console, "device_epsilon", new) == 200
    page = await admin_console.get(f"/console/devices/{mo['id']}")
    assert new not in page.text
    assert "identity:user:set-password" in page.text
    async with services.storage.read() as tx:
        events = await tx.audit.list_for_subject("t1", "device_epsilon")
    rotations = [e for e in events if e.tag.value == "identity:user:set-password"]
    assert [(e.actor, e.detail) for e in rotations] == [("admin", {"managedObject": int(mo["id"]), "rotated": True})]
    assert events[-1].tag.value == "identity:authentication:fail"  # the old password, after the rotation


async def test_an_object_without_a_device_user_has_no_password_to_rotate(
    admin_console: ConsoleClient, services: Services
) -> None:
    created = await call(admin_console.http, "POST", MO, {"name": "admin-owned", "c8y_IsDevice": {}})
    mo_id = created.json()["id"]
    page = await admin_console.get(f"/console/devices/{mo_id}")
    assert "Not owned by a device user" in page.text
    assert "Set a new random password" not in page.text
    refused = await admin_console.post(f"/console/devices/{mo_id}/rotate-password")
    assert refused.status_code == 409


async def test_a_certificate_of_the_device_is_listed_and_revoked(
    admin_console: ConsoleClient, services: Services
) -> None:
    mo = await device(admin_console, services, "zeta")
    issued = await services.certificates.issue(
        make_csr(ec_key(), "zeta"), tenant_id="t1", owner="device_zeta", common_name="zeta", issued_via="api"
    )
    other = await services.certificates.issue(
        make_csr(ec_key(), "other"), tenant_id="t1", owner="device_other", common_name="other", issued_via="api"
    )
    page = await admin_console.get(f"/console/devices/{mo['id']}")
    assert issued.serial in page.text
    assert "badge-valid" in page.text
    assert f"Revoke the certificate {issued.serial}" in page.text
    foreign = await admin_console.post(f"/console/devices/{mo['id']}/certificates/{other.serial}/revoke")
    assert foreign.status_code == 404
    assert not (await services.certificates.find_by_serial(other.serial)).revoked  # type: ignore[union-attr]
    revoked = await admin_console.post(
        f"/console/devices/{mo['id']}/certificates/{issued.serial}/revoke", {"reason": "keyCompromise"}
    )
    assert (revoked.status_code, revoked.headers["location"]) == (303, f"/console/devices/{mo['id']}")
    found = await services.certificates.find_by_serial(issued.serial)
    assert found is not None
    assert found.revoked
    assert found.revocation_reason == "keyCompromise"
    page = await admin_console.get(f"/console/devices/{mo['id']}")
    assert "badge-revoked" in page.text
    assert f"Revoke the certificate {issued.serial}" not in page.text
    assert "pki:certificate:revoke" in page.text
    assert "Revoked the certificate" in page.text


async def test_deleting_a_device_with_its_user_ends_its_credentials(
    admin_console: ConsoleClient, services: Services
) -> None:
    mo = await device(admin_console, services, "eta")
    deleted = await admin_console.post(f"/console/devices/{mo['id']}/delete", {"with_device_user": "1"})
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/console/devices")
    assert "Deleted eta and its device user." in (await admin_console.get("/console/devices")).text
    assert (await admin_console.get(f"/console/devices/{mo['id']}")).status_code == 404
    assert await current_user(admin_console, "device_eta", DEVICE_PASSWORD) == 401


async def test_a_reader_sees_but_cannot_change_and_the_server_refuses_anyway(
    console: ConsoleClient, services: Services
) -> None:
    await console.sign_in("admin", "admin-Secret-123")
    mo = await device(console, services, "theta")
    site = await group(console, "Readers")
    await console.post(f"/console/devices/{mo['id']}/groups", {"group": site})
    reader = await person(services, console, "reader", ["ROLE_INVENTORY_READ"])
    page = await reader.get(f"/console/devices/{mo['id']}")
    assert page.status_code == 200
    for hidden in ("Set a new random password", "Delete device", "Add to group", "Remove from the group"):
        assert hidden not in page.text
    assert "Your roles do not include reading external ids." in page.text
    assert "Your roles do not include reading certificates." in page.text
    assert "Create a group" not in (await reader.get("/console/devices/groups")).text
    posts = [
        (f"/console/devices/{mo['id']}/rotate-password", {}),
        (f"/console/devices/{mo['id']}/delete", {"with_device_user": "1"}),
        (f"/console/devices/{mo['id']}/groups/{site}/remove", {}),
        (f"/console/devices/{mo['id']}/groups", {"group": site}),
        ("/console/devices/groups", {"name": "sneaky"}),
        (f"/console/devices/groups/{site}/members", {"member": mo["id"]}),
    ]
    for path, data in posts:
        assert (await reader.post(path, data)).status_code == 403, path
    assert await current_user(console, "device_theta", DEVICE_PASSWORD) == 200
    async with services.storage.read() as tx:
        assert await tx.inventory.get_managed_object("t1", int(mo["id"])) is not None
        assert "sneaky" not in str(await tx.audit.list_for_subject("t1", "t1"))


async def test_an_inventory_admin_without_user_management_cannot_rotate_a_password(
    console: ConsoleClient, services: Services
) -> None:
    await console.sign_in("admin", "admin-Secret-123")
    mo = await device(console, services, "iota")
    operator = await person(services, console, "operator", ["ROLE_INVENTORY_ADMIN", "ROLE_IDENTITY_READ"])
    page = await operator.get(f"/console/devices/{mo['id']}")
    assert "Set a new random password" not in page.text
    assert "Delete device" in page.text
    assert "c8y_Serial" in page.text
    assert (await operator.post(f"/console/devices/{mo['id']}/rotate-password")).status_code == 403
    assert await current_user(console, "device_iota", DEVICE_PASSWORD) == 200


async def test_someone_without_inventory_roles_gets_no_device_pages(console: ConsoleClient, services: Services) -> None:
    await console.sign_in("admin", "admin-Secret-123")
    mo = await device(console, services, "kappa")
    nobody = await person(services, console, "nobody", ["minimum-access"])
    dashboard = await nobody.get("/console/")
    assert 'href="/console/devices"' not in dashboard.text
    for path in ("/console/devices", "/console/devices/groups", f"/console/devices/{mo['id']}"):
        assert (await nobody.get(path)).status_code == 403, path
    assert (await nobody.post(f"/console/devices/{mo['id']}/delete")).status_code == 403


async def test_a_post_without_the_csrf_token_changes_nothing(admin_console: ConsoleClient, services: Services) -> None:
    mo = await device(admin_console, services, "lambda")
    answer = await admin_console.post(f"/console/devices/{mo['id']}/rotate-password", csrf="wrong")
    assert answer.status_code == 403
    assert await current_user(admin_console, "device_lambda", DEVICE_PASSWORD) == 200


async def test_an_external_id_finds_a_renamed_device_and_a_delete_can_keep_its_user(
    admin_console: ConsoleClient, services: Services
) -> None:
    mo = await device(admin_console, services, "serial-777")
    assert (await call(admin_console.http, "PUT", f"{MO}/{mo['id']}", {"name": "Boiler"})).status_code == 200
    found = await admin_console.get("/console/devices?q=SERIAL-77")
    assert f'href="/console/devices/{mo["id"]}">Boiler<' in found.text
    kept = await admin_console.post(f"/console/devices/{mo['id']}/delete")
    assert kept.status_code == 303
    assert "Deleted Boiler." in (await admin_console.get("/console/devices")).text
    assert await current_user(admin_console, "device_serial-777", DEVICE_PASSWORD) == 200


async def test_the_history_is_newest_first_across_the_subjects_and_limited(services: Services) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        AuditEvent(AuditTag.MANAGED_OBJECT_UPDATED, "t1", "admin", subject, start + timedelta(minutes=n), {"n": n})
        for n, subject in enumerate(["7", "device_x", "x", "7", "other", "c8y_Serial/x"])
    ]
    async with services.storage.transaction() as tx:
        await tx.audit.record_many(events)
    async with services.storage.read() as tx:
        found = await tx.audit.recent_for_subjects("t1", ["7", "device_x", "x", "c8y_Serial/x"], limit=4)
        other_tenant = await tx.audit.recent_for_subjects("t2", ["7"], limit=4)
    assert [event.detail["n"] for event in found] == [5, 3, 2, 1]
    assert other_tenant == []
