"""Each store, against SQLite and a real PostgreSQL: the promises documented on its Protocol."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from admittance.bootstrap import Services
from admittance.devices.inventory_model import ExternalId
from admittance.devices.model import RegistrationRequest, RegistrationStatus
from admittance.identity.model import SecurityTokenPolicy, UserKind
from admittance.kernel.errors import Conflict
from admittance.kernel.paging import PageRequest

NOW = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)


def request(
    request_id: str,
    status: RegistrationStatus = RegistrationStatus.PENDING_ACCEPTANCE,
    tenant: str = "t1",
    minute: int = 0,
) -> RegistrationRequest:
    at = NOW.replace(minute=minute)
    return RegistrationRequest(request_id, tenant, status, "admin", at, at, custom_properties={"k": [1, "é"]})


async def test_insert_is_settled_by_the_primary_key(services: Services) -> None:
    async with services.storage.transaction() as tx:
        assert await tx.registrations.insert(request("dev-1"))
        assert not await tx.registrations.insert(request("dev-1", tenant="management"))
    async with services.storage.read() as tx:
        found = await tx.registrations.get("dev-1")
    assert found == request("dev-1")  # round trip keeps every field, timestamps to the millisecond


async def test_update_state_is_compare_and_set(services: Services) -> None:
    async with services.storage.transaction() as tx:
        await tx.registrations.insert(request("dev-1", RegistrationStatus.WAITING_FOR_CONNECTION))
        common = {"security_token_digest": "a" * 64, "token_failures": 1, "updated_at": NOW}
        assert await tx.registrations.update_state(
            "dev-1",
            expected=RegistrationStatus.WAITING_FOR_CONNECTION,
            status=RegistrationStatus.PENDING_ACCEPTANCE,
            **common,
        )
        assert not await tx.registrations.update_state(
            "dev-1", expected=RegistrationStatus.WAITING_FOR_CONNECTION, status=RegistrationStatus.BLOCKED, **common
        )
        found = await tx.registrations.get("dev-1", for_update=True)
    assert found is not None
    assert (found.status, found.security_token_digest, found.token_failures) == (
        RegistrationStatus.PENDING_ACCEPTANCE,
        "a" * 64,
        1,
    )


async def test_take_accepted_returns_the_request_once(services: Services) -> None:
    async with services.storage.transaction() as tx:
        await tx.registrations.insert(request("dev-1", RegistrationStatus.ACCEPTED))
        await tx.registrations.insert(request("dev-2", RegistrationStatus.PENDING_ACCEPTANCE))
        assert await tx.registrations.take_accepted("dev-2") is None
        taken = await tx.registrations.take_accepted("dev-1")
        assert taken is not None
        assert taken.id == "dev-1"
        assert await tx.registrations.take_accepted("dev-1") is None
        assert await tx.registrations.get("dev-1") is None


async def test_paging_filters_and_counts(services: Services) -> None:
    async with services.storage.transaction() as tx:
        for n in range(7):
            status = RegistrationStatus.PENDING_ACCEPTANCE if n % 2 else RegistrationStatus.WAITING_FOR_CONNECTION
            await tx.registrations.insert(request(f"dev-{n}", status, minute=n))
        await tx.registrations.insert(request("other", tenant="management", minute=30))
    async with services.storage.read() as tx:
        first = await tx.registrations.page("t1", None, PageRequest(1, 3, with_total=True))
        last = await tx.registrations.page("t1", None, PageRequest(3, 3))
        pending = await tx.registrations.page("t1", RegistrationStatus.PENDING_ACCEPTANCE, PageRequest(1, 10))
        everyone = await tx.registrations.page(None, None, PageRequest(1, 100, with_total=True))
    assert [r.id for r in first.items] == ["dev-0", "dev-1", "dev-2"]
    assert (first.total, first.has_more) == (7, True)
    assert ([r.id for r in last.items], last.has_more) == (["dev-6"], False)
    assert [r.id for r in pending.items] == ["dev-1", "dev-3", "dev-5"]
    assert everyone.total == 8


async def test_users_unique_per_tenant_with_roles(services: Services) -> None:
    async with services.storage.transaction() as tx:
        created = await tx.users.create("t1", "alice", "h", UserKind.HUMAN, ["ROLE_DEVICE_CONTROL_READ"])
        assert created.roles == frozenset({"ROLE_DEVICE_CONTROL_READ"})
        await tx.users.create("management", "alice", "h", UserKind.HUMAN, [])
    with pytest.raises(Conflict):  # a second alice in t1
        async with services.storage.transaction() as tx:
            await tx.users.create("t1", "alice", "h", UserKind.HUMAN, [])
    record = await services.storage.auth_record("t1", "alice")
    assert record is not None
    assert record.roles == frozenset({"ROLE_DEVICE_CONTROL_READ"})
    assert await services.storage.auth_record("t1", "nobody") is None


async def test_device_user_upsert_creates_then_resets_password(services: Services) -> None:
    async with services.storage.transaction() as tx:
        await tx.users.upsert_device_user("t1", "device_x", "h1", "ROLE_DEVICE")
        await tx.users.upsert_device_user("t1", "device_x", "h2", "ROLE_DEVICE")
        assert await tx.users.count_devices("t1") == 1
    record = await services.storage.auth_record("t1", "device_x")
    assert record is not None
    assert record.password_hash == "h2"
    assert record.roles == frozenset({"ROLE_DEVICE"})


async def test_device_user_upsert_never_takes_over_a_person(services: Services) -> None:
    async with services.storage.transaction() as tx:
        await tx.users.create("t1", "device_y", "person-hash", UserKind.HUMAN, [])
    with pytest.raises(Conflict):  # upsert refuses a person's name
        async with services.storage.transaction() as tx:
            await tx.users.upsert_device_user("t1", "device_y", "h", "ROLE_DEVICE")
    record = await services.storage.auth_record("t1", "device_y")
    assert record is not None
    assert record.password_hash == "person-hash"


async def test_tenants(services: Services) -> None:
    async with services.storage.transaction() as tx:
        await tx.tenants.create("acme", SecurityTokenPolicy.REQUIRED, 5)
        await tx.tenants.set_policy("acme", SecurityTokenPolicy.IGNORED)
    async with services.storage.read() as tx:
        acme = await tx.tenants.get("acme")
        ids = [t.id for t in await tx.tenants.all()]
    assert acme is not None
    assert (acme.security_token_policy, acme.device_limit) == (SecurityTokenPolicy.IGNORED, 5)
    assert ids == ["acme", "management", "t1"]
    assert await services.storage.tenant_exists("acme")


async def test_poll_view_reads_user_request_and_policy_in_one_go(services: Services) -> None:
    async with services.storage.transaction() as tx:
        await tx.registrations.insert(replace(request("dev-9"), security_token_digest="b" * 64))
    view = await services.storage.poll_view("management", "devicebootstrap", "dev-9")
    assert view.user is not None
    assert "ROLE_DEVICE_BOOTSTRAP" in view.user.roles
    assert view.request is not None
    assert view.request.security_token_digest == "b" * 64
    assert view.policy is SecurityTokenPolicy.OPTIONAL
    missing = await services.storage.poll_view("management", "devicebootstrap", "nope")
    assert missing.user is not None
    assert missing.request is None
    nobody = await services.storage.poll_view("management", "nobody", "dev-9")
    assert (nobody.user, nobody.request) == (None, None)


async def test_inventory_and_external_ids(services: Services) -> None:
    async with services.storage.transaction() as tx:
        mo = await tx.inventory.create_managed_object("t1", "device_a", "A", "thing", {"c8y_IsDevice": {}}, NOW)
        assert await tx.inventory.add_external_id(ExternalId("t1", "c8y_Serial", "A-1", mo.id))
        assert not await tx.inventory.add_external_id(ExternalId("t1", "c8y_Serial", "A-1", mo.id))
    found = await services.storage.find_external_id("t1", "c8y_Serial", "A-1")
    assert found is not None
    assert found.managed_object_id == mo.id
    assert await services.storage.find_external_id("management", "c8y_Serial", "A-1") is None
    loaded = await services.storage.get_managed_object("t1", mo.id)
    assert loaded is not None
    assert loaded.fragments == {"c8y_IsDevice": {}}
    assert loaded.owner == "device_a"
    assert await services.storage.get_managed_object("management", mo.id) is None


async def test_audit_events_are_recorded(services: Services) -> None:
    events = await _audit(services, "t1", "admin")
    assert [e.tag.value for e in events] == ["identity:user:create"]


async def _audit(services: Services, tenant: str, subject: str):
    async with services.storage.read() as tx:
        return await tx.audit.list_for_subject(tenant, subject)


async def test_a_failed_transaction_leaves_nothing_behind(services: Services) -> None:
    try:
        async with services.storage.transaction() as tx:
            await tx.registrations.insert(request("dev-r"))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with services.storage.read() as tx:
        assert await tx.registrations.get("dev-r") is None


async def test_authentication_failures_are_audited_without_the_secret(services: Services) -> None:
    from admittance.identity import PresentedCredentials
    from admittance.kernel.errors import Unauthenticated

    try:
        await services.identity.authenticate(PresentedCredentials("t1", "admin", "not-the-password", "10.9.8.7"))
    except Unauthenticated:
        pass
    else:
        raise AssertionError("a wrong password must fail")
    events = await _audit(services, "t1", "admin")
    failure = events[-1]
    assert failure.tag.value == "identity:authentication:fail"
    assert failure.detail == {"source": "10.9.8.7", "reason": "wrong password"}
    assert "not-the-password" not in repr(failure)


def _issue(device_id: str, password_hash: str = "hmac-sha256$x"):
    from admittance.audit import AuditEvent, AuditTag
    from admittance.devices.store import IssueRequest

    event = AuditEvent(
        AuditTag.CREDENTIALS_ISSUED,
        "management",
        "devicebootstrap",
        device_id,
        NOW,
        {"username": f"device_{device_id}"},
    )
    return IssueRequest(device_id, f"device_{device_id}", password_hash, "ROLE_DEVICE", event)


async def test_issue_credentials_takes_the_accepted_request_once(services: Services) -> None:
    async with services.storage.transaction() as tx:
        await tx.registrations.insert(request("ok", RegistrationStatus.ACCEPTED))
        await tx.registrations.insert(request("pending", RegistrationStatus.PENDING_ACCEPTANCE))
    first = await services.storage.issue_credentials(_issue("ok", "hmac-sha256$first"))
    again = await services.storage.issue_credentials(_issue("ok", "hmac-sha256$second"))
    pending = await services.storage.issue_credentials(_issue("pending"))
    assert (first.tenant_id, first.name_taken) == ("t1", False)
    assert (again.tenant_id, again.name_taken) == (None, False)
    assert pending.tenant_id is None
    record = await services.storage.auth_record("t1", "device_ok")
    assert record is not None
    assert (record.password_hash, record.roles) == ("hmac-sha256$first", frozenset({"ROLE_DEVICE"}))
    events = await _audit(services, "t1", "ok")
    assert [(e.tag.value, e.actor, e.detail) for e in events] == [
        ("devices:credentials:issue", "devicebootstrap", {"username": "device_ok"})
    ]
    async with services.storage.read() as tx:
        assert await tx.registrations.get("ok") is None
        still = await tx.registrations.get("pending")
    assert still is not None


async def test_issue_credentials_never_takes_a_persons_name(services: Services) -> None:
    async with services.storage.transaction() as tx:
        await tx.registrations.insert(request("taken", RegistrationStatus.ACCEPTED))
        await tx.users.create("t1", "device_taken", "person-hash", UserKind.HUMAN, [])
    outcome = await services.storage.issue_credentials(_issue("taken"))
    assert (outcome.tenant_id, outcome.name_taken) == (None, True)
    record = await services.storage.auth_record("t1", "device_taken")
    assert record is not None
    assert record.password_hash == "person-hash"
    async with services.storage.read() as tx:
        kept = await tx.registrations.get("taken")
    assert kept is not None
    assert kept.status is RegistrationStatus.ACCEPTED
