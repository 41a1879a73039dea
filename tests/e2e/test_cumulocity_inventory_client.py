"""End to end: the inventory of a real `admittance serve` process driven by c8y_api, Cumulocity's official Python
client: groups and their child assets, selections by the simple filters, updates, external ids, deleting a tree.
On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from c8y_api.model import Device, DeviceGroup, ExternalId  # type: ignore[import-untyped]

from tests.support.c8y import operator
from tests.support.server import Start

pytestmark = pytest.mark.e2e


def test_c8y_api_manages_groups_devices_and_their_external_ids(start: Start, database_url: str) -> None:
    c8y = operator(start(database_url))
    hall = DeviceGroup(c8y, root=True, name="Hall").create()
    line = hall.create_child("Line 1")  # POST childAssets {"managedObject": {"id": …}}
    sensor = Device(c8y, type="c8y_Sensor", name="sensor 1", c8y_Hardware={"serial": "A"}).create()
    line.add_child_asset(sensor)
    ExternalId(c8y, "SN 0001", "c8y_Serial", sensor.id).create()
    assert [child.name for child in c8y.group_inventory.get(hall.id).child_assets] == ["Line 1"]
    assert [parent.name for parent in c8y.inventory.get(sensor.id).parent_assets] == ["Line 1"]
    assert [mo.name for mo in c8y.inventory.select(type="c8y_Sensor")] == ["sensor 1"]
    assert [mo.name for mo in c8y.inventory.select(fragment="c8y_Hardware")] == ["sensor 1"]
    assert [mo.name for mo in c8y.inventory.select(text="sensor 1")] == ["sensor 1"]  # sent as 'sensor 1'
    assert [mo.name for mo in c8y.device_inventory.select()] == ["sensor 1"]  # fragmentType=c8y_IsDevice
    assert [mo.name for mo in c8y.inventory.get_all(ids=[hall.id, sensor.id])] == ["Hall", "sensor 1"]
    assert c8y.inventory.get_count() == 3
    loaded = c8y.inventory.get(sensor.id)
    loaded.name = "sensor 1b"
    loaded["c8y_Hardware"] = {"serial": "B"}
    loaded.update()
    updated = c8y.inventory.get(sensor.id)
    assert (updated.name, updated["c8y_Hardware"]) == ("sensor 1b", {"serial": "B"})
    assert [external.external_id for external in c8y.identity.get_all(sensor.id)] == ["SN 0001"]
    with pytest.raises(ValueError, match="422"):  # a group under itself
        line.add_child_asset(hall)
    line.unassign_child_asset(sensor)
    assert c8y.inventory.get(line.id).child_assets == []
    hall.delete_tree()  # forceCascade=true
    assert [mo.name for mo in c8y.inventory.get_all()] == ["sensor 1b"]
