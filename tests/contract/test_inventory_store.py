"""The inventory store against SQLite and a real PostgreSQL: filters, relations, membership and deletion."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from admittance.bootstrap import Services
from admittance.devices.inventory_model import AssetReference, ExternalId, InventoryFilter, ManagedObject, Relations
from admittance.identity.model import UserKind
from admittance.kernel.paging import PageRequest

NOW = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
ALL = PageRequest(1, 100, with_total=True)


async def create(
    services: Services,
    name: str | None,
    mo_type: str | None = None,
    fragments: dict[str, Any] | None = None,
    *,
    tenant: str = "t1",
    owner: str = "admin",
) -> ManagedObject:
    async with services.storage.transaction() as tx:
        return await tx.inventory.create_managed_object(tenant, owner, name, mo_type, fragments or {}, NOW)


async def names(services: Services, filters: InventoryFilter, tenant: str = "t1") -> list[str | None]:
    async with services.storage.read() as tx:
        page = await tx.inventory.page_managed_objects(tenant, filters, ALL)
    assert page.total == len(page.items)
    return [mo.name for mo in page.items]


async def assign(services: Services, parent: ManagedObject, *children: ManagedObject) -> None:
    async with services.storage.transaction() as tx:
        for child in children:
            assert await tx.inventory.add_child_asset(parent.tenant_id, parent.id, child.id)


async def test_filters_each_narrow_the_tenants_objects_in_id_order(services: Services) -> None:
    sensor = await create(services, "Sensor Ünit 1", "c8y_Sensor", {"c8y_IsDevice": {}, "odd": None})
    group = await create(services, "Hall", "c8y_DeviceGroup", {"c8y_IsDeviceGroup": {}}, owner="device_x")
    await create(services, "50%_off", "thing", {"a.b": 1, 'q"x': 2, "tab\there": 3})
    await create(services, "Sensor elsewhere", "c8y_Sensor", {"c8y_IsDevice": {}}, tenant="management")
    async with services.storage.transaction() as tx:
        assert await tx.inventory.add_external_id(ExternalId("t1", "c8y_Serial", "SN-ABC-42", group.id))
    assert await names(services, InventoryFilter()) == ["Sensor Ünit 1", "Hall", "50%_off"]
    assert await names(services, InventoryFilter(type="c8y_Sensor")) == ["Sensor Ünit 1"]
    assert await names(services, InventoryFilter(owner="device_x")) == ["Hall"]
    assert await names(services, InventoryFilter(fragment_type="c8y_IsDevice")) == ["Sensor Ünit 1"]
    assert await names(services, InventoryFilter(fragment_type="odd")) == ["Sensor Ünit 1"]  # present, though null
    for key in ("a.b", 'q"x', "tab\there"):  # keys that JSON paths cannot name plainly
        assert await names(services, InventoryFilter(fragment_type=key)) == ["50%_off"], key
    assert await names(services, InventoryFilter(fragment_type="a")) == []
    assert await names(services, InventoryFilter(text="sensor")) == ["Sensor Ünit 1"]  # name, any case
    assert await names(services, InventoryFilter(text="DEVICEGROUP")) == ["Hall"]  # type
    assert await names(services, InventoryFilter(text="abc-4")) == ["Hall"]  # an external id value
    assert await names(services, InventoryFilter(text="Ünit")) == ["Sensor Ünit 1"]
    assert await names(services, InventoryFilter(text="%_")) == ["50%_off"]  # wildcards are literal
    assert await names(services, InventoryFilter(text="s_nsor")) == []
    assert await names(services, InventoryFilter(ids=(group.id, sensor.id, 999_999))) == ["Sensor Ünit 1", "Hall"]
    assert await names(services, InventoryFilter(ids=())) == []
    combined = InventoryFilter(type="c8y_Sensor", fragment_type="c8y_IsDevice", text="1", ids=(sensor.id,))
    assert await names(services, combined) == ["Sensor Ünit 1"]
    assert await names(services, InventoryFilter(type="c8y_Sensor"), tenant="management") == ["Sensor elsewhere"]


async def test_pages_count_and_tell_whether_more_follow(services: Services) -> None:
    for number in range(7):
        await create(services, f"mo-{number}")
    async with services.storage.read() as tx:
        first = await tx.inventory.page_managed_objects("t1", InventoryFilter(), PageRequest(1, 3, with_total=True))
        last = await tx.inventory.page_managed_objects("t1", InventoryFilter(), PageRequest(3, 3))
    assert ([mo.name for mo in first.items], first.total, first.has_more) == (["mo-0", "mo-1", "mo-2"], 7, True)
    assert ([mo.name for mo in last.items], last.total, last.has_more) == (["mo-6"], None, False)


async def test_update_writes_name_type_fragments_and_time(services: Services) -> None:
    mo = await create(services, "old", "t", {"keep": {"a": 1}})
    changed = replace(mo, name=None, type="new", fragments={"keep": {"a": 2}}, updated_at=NOW + timedelta(seconds=5))
    async with services.storage.transaction() as tx:
        assert await tx.inventory.update_managed_object(changed)
        assert not await tx.inventory.update_managed_object(replace(changed, tenant_id="management"))
        loaded = await tx.inventory.get_managed_object("t1", mo.id, for_update=True)
    assert loaded == changed


async def test_relations_of_a_page_in_one_query_with_a_cap(services: Services) -> None:
    root, sub, lone = await create(services, "root"), await create(services, "sub"), await create(services, "lone")
    devices = [await create(services, f"d{n}") for n in range(3)]
    await assign(services, root, sub, devices[0])
    await assign(services, sub, *devices)
    async with services.storage.read() as tx:
        found = await tx.inventory.relations("t1", [root.id, sub.id, lone.id, devices[0].id], 2)
        other_tenant = await tx.inventory.relations("management", [root.id], 2)
    ref = {mo.id: AssetReference(mo.id, mo.name) for mo in (root, sub, *devices)}
    assert found == {
        root.id: Relations((ref[sub.id], ref[devices[0].id]), ()),
        sub.id: Relations((ref[devices[0].id], ref[devices[1].id]), (ref[root.id],)),  # capped at 2
        devices[0].id: Relations((), (ref[root.id], ref[sub.id])),
    }
    assert other_tenant == {}


async def test_membership_is_idempotent_pages_and_knows_subtrees(services: Services) -> None:
    root, sub, leaf = await create(services, "root"), await create(services, "sub"), await create(services, "leaf")
    await assign(services, root, sub)
    await assign(services, sub, leaf)
    async with services.storage.transaction() as tx:
        await tx.inventory.lock_hierarchy("t1")
        assert not await tx.inventory.add_child_asset("t1", root.id, sub.id)
        assert await tx.inventory.in_subtree("t1", root.id, leaf.id)
        assert await tx.inventory.in_subtree("t1", leaf.id, leaf.id)
        assert not await tx.inventory.in_subtree("t1", leaf.id, root.id)
        assert not await tx.inventory.in_subtree("management", root.id, leaf.id)
        children = await tx.inventory.page_child_assets("t1", sub.id, ALL)
        assert (children.items, children.total) == ([AssetReference(leaf.id, "leaf")], 1)
        assert await tx.inventory.remove_child_asset("t1", sub.id, leaf.id)
        assert not await tx.inventory.remove_child_asset("t1", sub.id, leaf.id)
        assert not await tx.inventory.in_subtree("t1", root.id, leaf.id)


async def test_delete_takes_external_ids_and_memberships_and_with_cascade_the_subtree(services: Services) -> None:
    root, sub, other = await create(services, "root"), await create(services, "sub"), await create(services, "other")
    shared, below = await create(services, "shared"), await create(services, "below")
    await assign(services, root, sub, shared)
    await assign(services, sub, below)
    await assign(services, other, shared)
    async with services.storage.transaction() as tx:
        await tx.inventory.add_external_id(ExternalId("t1", "c8y_Serial", "S1", sub.id))
        assert await tx.inventory.delete_managed_objects("management", sub.id, cascade=True) == []
        alone = await tx.inventory.delete_managed_objects("t1", sub.id, cascade=False)
        assert [mo.name for mo in alone] == ["sub"]
        assert await tx.inventory.find_external_id("t1", "c8y_Serial", "S1") is None
        assert await tx.inventory.get_managed_object("t1", below.id) is not None  # the child stays, unassigned
        await tx.inventory.add_child_asset("t1", root.id, below.id)
        tree = await tx.inventory.delete_managed_objects("t1", root.id, cascade=True)
        assert [mo.name for mo in tree] == ["root", "shared", "below"]  # root first, then by id
        remaining = await tx.inventory.page_managed_objects("t1", InventoryFilter(), ALL)
        assert [mo.name for mo in remaining.items] == ["other"]
        assert (await tx.inventory.page_child_assets("t1", other.id, ALL)).items == []


async def test_external_ids_of_an_object_and_their_deletion(services: Services) -> None:
    mo = await create(services, "mo")
    async with services.storage.transaction() as tx:
        for id_type, value in (("z_type", "1"), ("c8y_Serial", "B"), ("c8y_Serial", "A")):
            assert await tx.inventory.add_external_id(ExternalId("t1", id_type, value, mo.id))
        assert [(e.type, e.value) for e in await tx.inventory.external_ids_of("t1", mo.id)] == [
            ("c8y_Serial", "A"),
            ("c8y_Serial", "B"),
            ("z_type", "1"),
        ]
        assert await tx.inventory.external_ids_of("management", mo.id) == []
        assert not await tx.inventory.delete_external_id("management", "c8y_Serial", "A")
        assert await tx.inventory.delete_external_id("t1", "c8y_Serial", "A")
        assert len(await tx.inventory.external_ids_of("t1", mo.id)) == 2


@pytest.mark.parametrize(("kind", "deleted"), [(UserKind.DEVICE, True), (UserKind.HUMAN, False)])
async def test_only_device_users_are_deleted(services: Services, kind: UserKind, deleted: bool) -> None:
    async with services.storage.transaction() as tx:
        await tx.users.create("t1", "device_x", "hmac-sha256$x", kind, ["ROLE_DEVICE"])
        assert not await tx.inventory.delete_device_user("management", "device_x")
        assert await tx.inventory.delete_device_user("t1", "device_x") is deleted
        assert (await tx.users.get("t1", "device_x") is None) is deleted
