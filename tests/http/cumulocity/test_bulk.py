"""POST /devicecontrol/bulkNewDeviceRequests over HTTP, on SQLite and PostgreSQL: the seed's example
file, re-uploads, mixed files, simple and certificate files, the TENANT column."""

from __future__ import annotations

from typing import Any

import httpx

from admittance.bootstrap import Services
from admittance.identity import UserKind
from admittance.kernel.principal import Role
from tests.support.bulk import BULK_TYPE, SEED_EXAMPLE, counts, database_text, device_auth, group_names, sql, upload
from tests.support.cumulocity import BOOTSTRAP, CREDS, NDR, basic, call

SEED_IDS = ["id_101", "id_102", "id_111", "id_112", "id_121", "id_122", "id_131"]
SEED_GROUPS = [
    ("c8y_DeviceGroup", "csv device"),
    ("c8y_DeviceGroup", "csv device1"),
    ("c8y_DeviceSubGroup", "subgroup0"),
    ("c8y_DeviceSubGroup", "subgroup1"),
    ("c8y_DeviceSubGroup", "subgroup2"),
    ("c8y_DeviceSubGroup", "subgroup3"),
]
SEED_MEMBERS = {
    "csv device": ["subgroup0"],
    "csv device1": ["subgroup1", "subgroup2", "subgroup3"],
    "subgroup0": ["Device 101", "Device 102"],
    "subgroup1": ["Device 111", "Device 112"],
    "subgroup2": ["Device 121", "Device 122"],
    "subgroup3": ["Device 131"],
}


def counters(created: int, failed: int = 0, updated: int = 0) -> dict[str, int]:
    return {
        "numberOfAll": created + failed + updated,
        "numberOfCreated": created,
        "numberOfFailed": failed,
        "numberOfSuccessful": created + updated,
    }


def summary(body: dict[str, Any]) -> dict[str, int]:
    return {key: value for key, value in body.items() if key.startswith("number")}


async def external_id(client: httpx.AsyncClient, id_type: str, value: str) -> httpx.Response:
    return await call(client, "GET", f"/identity/externalIds/{id_type}/{value}")


async def device_object(client: httpx.AsyncClient, device_id: str, id_type: str = "c8y_Serial") -> dict[str, Any]:
    found = await external_id(client, id_type, device_id)
    assert found.status_code == 200, found.text
    response = await call(client, "GET", f"/inventory/managedObjects/{found.json()['managedObject']['id']}")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


async def connects(client: httpx.AsyncClient, device_id: str, password: str, tenant: str = "t1") -> bool:
    response = await call(client, "GET", "/user/currentUser", auth=device_auth(device_id, password, tenant))
    if response.status_code != 200:
        assert response.status_code == 401, response.text
        return False
    me = response.json()
    assert (me["userName"], me["tenantId"]) == (f"device_{device_id}", tenant)
    assert Role.DEVICE.value in [role["id"] for role in me["effectiveRoles"]]
    return True


async def members(services: Services) -> dict[str, list[str]]:
    """Group membership by name: parent -> sorted child names."""
    found: dict[str, list[str]] = {}
    for row in await sql(
        services,
        "SELECT p.name AS parent, c.name AS child FROM child_assets a "
        "JOIN managed_objects p ON p.id = a.parent_id JOIN managed_objects c ON c.id = a.child_id",
    ):
        found.setdefault(row["parent"], []).append(row["child"])
    return {parent: sorted(children) for parent, children in found.items()}


async def test_the_seed_example_creates_devices_that_connect_at_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    response = await upload(client, SEED_EXAMPLE)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == BULK_TYPE
    assert response.json() == {**counters(7), "credentialUpdatedList": [], "failedCreationList": []}

    for device_id in SEED_IDS:
        assert await connects(client, device_id, "abcd1234")
    first = await device_object(client, "id_101")
    assert {key: first[key] for key in ("name", "type", "owner", "c8y_IsDevice", "c8y_Mobile")} == {
        "name": "Device 101",
        "type": "type_of_device",
        "owner": "device_id_101",
        "c8y_IsDevice": {},
        "c8y_Mobile": {"iccid": "111111111"},
    }
    assert first["c8y_SupportedOperations"] == ["c8y_Command"]  # SHELL 1
    assert "c8y_SupportedOperations" not in await device_object(client, "id_102")  # SHELL 0
    bare = await device_object(client, "id_122")  # no ICCID, SHELL empty
    assert "c8y_Mobile" not in bare
    assert "c8y_SupportedOperations" not in bare
    # IDTYPE c8y_Imei replaces the default c8y_Serial
    assert (await device_object(client, "id_111", "c8y_Imei"))["name"] == "Device 111"
    assert (await external_id(client, "c8y_Serial", "id_111")).status_code == 404

    assert await group_names(services) == SEED_GROUPS
    assert await members(services) == SEED_MEMBERS
    groups = await sql(services, "SELECT fragments FROM managed_objects WHERE type LIKE 'c8y_DeviceGroup%'")
    assert all('"c8y_IsDeviceGroup"' in row["fragments"] for row in groups)
    assert "abcd1234" not in await database_text(services)


async def test_a_reupload_updates_every_password_and_duplicates_nothing(
    client: httpx.AsyncClient, services: Services
) -> None:
    assert (await upload(client, SEED_EXAMPLE)).json()["numberOfCreated"] == 7
    before = (await counts(services), await members(services), (await device_object(client, "id_101"))["id"])

    response = await upload(client, SEED_EXAMPLE.replace("abcd1234", "New-Pass-5678"))
    assert response.status_code == 201, response.text
    assert response.json() == {
        **counters(0, updated=7),
        "credentialUpdatedList": [
            {"bulkNewDeviceStatus": "CREDENTIAL_UPDATED", "deviceId": device_id} for device_id in SEED_IDS
        ],
        "failedCreationList": [],
    }
    for device_id in SEED_IDS:
        assert await connects(client, device_id, "New-Pass-5678")
        assert not await connects(client, device_id, "abcd1234")
    assert (await counts(services), await members(services), (await device_object(client, "id_101"))["id"]) == before


# The UI's full template (quoted, CRLF) with the agent column go-c8y writes into every bulk file.
UI_TEMPLATE = (
    '"ID";"TYPE";"NAME";"ICCID";"IDTYPE";"PATH";"SHELL";"AUTH_TYPE";"CREDENTIALS";"com_cumulocity_model_Agent.active"\r\n'
    '"ui-1";"c8y_Linux";"UI ""one""";"";"";"ui/line";"1";"BASIC";"Ui;Pass""Word";"true"\r\n'
)


async def test_the_quoted_ui_template_with_the_agent_column(client: httpx.AsyncClient) -> None:
    assert summary((await upload(client, UI_TEMPLATE, part_type="application/octet-stream")).json()) == counters(1)
    assert await connects(client, "ui-1", 'Ui;Pass"Word')
    device = await device_object(client, "ui-1")
    assert (device["name"], device["type"]) == ('UI "one"', "c8y_Linux")
    assert device["com_cumulocity_model_Agent"] == {"active": "true"}
    assert device["c8y_SupportedOperations"] == ["c8y_Command"]


MIXED = (
    "ID;CREDENTIALS;NAME;PATH;external-c8y_Imei\n"
    "ok_1;Good-Pass-1;OK 1;mixed/ok;imei-1\n"
    "bad_weak;short;Bad;failed-1;imei-2\n"
    "ok_2;Good-Pass-2;OK 2;mixed/ok;imei-3\n"
    "bad_formula;Bad-Pass-4;=1+1;failed-2;imei-4\n"
    "bad_fields;Bad-Pass-5;x\n"
    "ok_3;Good-Pass-3;OK 3;;\n"
    "bad_person;Bad-Pass-6;P;failed-3;imei-5\n"
    "bad_taken;Bad-Pass-7;T;failed-4;imei-pre\n"
    ";Bad-Pass-8;no id;failed-5;imei-6\n"
)


async def test_failing_rows_change_nothing_and_do_not_stop_the_others(
    client: httpx.AsyncClient, services: Services
) -> None:
    assert (await upload(client, "ID;CREDENTIALS;external-c8y_Imei\npre;Good-Pass-0;imei-pre\n")).status_code == 201
    async with services.storage.transaction() as tx:  # a person whose name looks like a device user's
        await tx.users.create("t1", "device_bad_person", "hash-of-a-person", UserKind.HUMAN, [])

    response = await upload(client, MIXED)
    assert response.status_code == 201, response.text
    body = response.json()
    assert summary(body) == counters(3, failed=6)
    assert body["credentialUpdatedList"] == []
    failed = {entry["line"]: (entry.get("deviceId"), entry["failureReason"]) for entry in body["failedCreationList"]}
    assert all(entry["bulkNewDeviceStatus"] == "FAILED" for entry in body["failedCreationList"])
    assert list(failed) == [
        "Line 3: bad_weak;;Bad;failed-1;imei-2",
        "Line 5: bad_formula;;=1+1;failed-2;imei-4",
        "Line 6",  # a row that does not line up with the header is not shown
        "Line 8: bad_person;;P;failed-3;imei-5",
        "Line 9: bad_taken;;T;failed-4;imei-pre",
        "Line 10: ;;no id;failed-5;imei-6",
    ]
    expected = [
        ("bad_weak", "at least 8 characters"),
        ("bad_formula", "NAME cell starts with '='"),
        ("bad_fields", "has 3 fields"),
        ("bad_person", "belongs to a person"),
        ("bad_taken", "imei-pre"),
        (None, "ID is empty"),
    ]
    for (device_id, reason), (expected_id, expected_reason) in zip(failed.values(), expected, strict=True):
        assert device_id == expected_id
        assert expected_reason in reason

    for number in (1, 2, 3):
        assert await connects(client, f"ok_{number}", f"Good-Pass-{number}")
    assert (await device_object(client, "imei-3", "c8y_Imei"))["name"] == "OK 2"
    users = {row["username"]: row for row in await sql(services, "SELECT username, kind, password_hash FROM users")}
    assert [name for name in users if name.startswith("device_bad")] == ["device_bad_person"]
    assert users["device_bad_person"]["password_hash"] == "hash-of-a-person"
    for id_type, value in [("c8y_Imei", f"imei-{n}") for n in (2, 4, 5, 6)] + [("c8y_Serial", "bad_weak")]:
        assert (await external_id(client, id_type, value)).status_code == 404
    assert (await device_object(client, "imei-pre", "c8y_Imei"))["owner"] == "device_pre"
    assert [name for _, name in await group_names(services)] == ["mixed", "ok"]
    assert await members(services) == {"mixed": ["ok"], "ok": ["OK 1", "OK 2"]}


async def test_a_simple_file_creates_requests_that_go_through_acceptance(
    client: httpx.AsyncClient, services: Services
) -> None:
    response = await upload(client, "ID;PATH\nsimple-1;plant/line1\nsimple-2;\nsimple-3;plant/line1\n")
    assert response.status_code == 201, response.text
    assert response.json() == {**counters(3), "credentialUpdatedList": [], "failedCreationList": []}
    [line1] = await sql(services, "SELECT id FROM managed_objects WHERE name = 'line1'")
    requests = {r["id"]: r for r in (await call(client, "GET", f"{NDR}?pageSize=100")).json()["newDeviceRequests"]}
    assert {key: requests[key]["status"] for key in requests} == dict.fromkeys(
        ["simple-1", "simple-2", "simple-3"], "WAITING_FOR_CONNECTION"
    )
    assert requests["simple-1"]["groupId"] == str(line1["id"])
    assert "groupId" not in requests["simple-2"]
    assert [name for _, name in await group_names(services)] == ["plant", "line1"]  # group, subgroup
    assert await members(services) == {"plant": ["line1"]}  # no device exists before acceptance
    assert not await sql(services, "SELECT id FROM users WHERE username LIKE 'device_simple%'")

    before = await counts(services)
    again = (await upload(client, "ID\nsimple-2\nsimple-4\n")).json()
    assert summary(again) == counters(1, failed=1)
    assert "exists already" in again["failedCreationList"][0]["failureReason"]
    assert (await counts(services))["registration_requests"] == before["registration_requests"] + 1

    assert (await call(client, "POST", CREDS, {"id": "simple-1"}, auth=BOOTSTRAP)).status_code == 404
    assert (await call(client, "PUT", f"{NDR}/simple-1", {"status": "ACCEPTED"})).status_code == 200
    issued = await call(client, "POST", CREDS, {"id": "simple-1"}, auth=BOOTSTRAP)
    assert issued.status_code == 201, issued.text
    assert await connects(client, "simple-1", issued.json()["password"])


CERTIFICATES = (
    "ID;AUTH_TYPE;ENROLLMENT_OTP;NAME;TYPE;PATH\n"
    "cert-1;CERTIFICATES;Otp-Cert-One-111;Cert 1;est_device;est/line\n"
    "cert-2;CERTIFICATES;;Cert 2;;\n"
)


async def test_certificate_rows_create_accepted_requests_and_keep_no_plaintext_otp(
    client: httpx.AsyncClient, services: Services
) -> None:
    response = await upload(client, CERTIFICATES)
    assert response.json() == {**counters(2), "credentialUpdatedList": [], "failedCreationList": []}
    for device_id in ("cert-1", "cert-2"):
        request = await call(client, "GET", f"{NDR}/{device_id}")
        assert request.json()["status"] == "ACCEPTED", request.text
    assert (await device_object(client, "cert-1"))["type"] == "est_device"
    assert await members(services) == {"est": ["line"], "line": ["Cert 1"]}
    assert not await sql(services, "SELECT id FROM users WHERE username LIKE 'device_cert%'")  # no password
    digests = {
        row["id"]: row["enrollment_token_digest"]
        for row in await sql(services, "SELECT id, enrollment_token_digest FROM registration_requests")
    }
    assert digests["cert-2"] is None
    assert len(digests["cert-1"]) == 64
    assert "Otp-Cert-One-111" not in await database_text(services)

    again = await upload(client, CERTIFICATES.replace("Otp-Cert-One-111", "Otp-Cert-One-222"))
    assert summary(again.json()) == counters(0, updated=2)
    [row] = await sql(services, "SELECT enrollment_token_digest AS d FROM registration_requests WHERE id = 'cert-1'")
    assert row["d"] not in (None, digests["cert-1"])
    assert "Otp-Cert-One-222" not in await database_text(services)


TENANTS = "ID;CREDENTIALS;TENANT\nten-1;Tenant-Pass-1;t2\nten-2;Tenant-Pass-2;\nten-3;Tenant-Pass-3;nosuch\n"


async def test_the_tenant_column_is_honoured_for_management_callers_only(
    client: httpx.AsyncClient, services: Services
) -> None:
    await services.identity.create_tenant("t2")
    await services.identity.create_user("management", "operator", "Operator-Pass-1", [Role.DEVICE_CONTROL_ADMIN.value])

    chosen = (await upload(client, TENANTS, auth=basic("management/operator", "Operator-Pass-1"))).json()
    assert summary(chosen) == counters(2, failed=1)
    assert "There is no tenant nosuch" in chosen["failedCreationList"][0]["failureReason"]
    assert await connects(client, "ten-1", "Tenant-Pass-1", tenant="t2")
    assert await connects(client, "ten-2", "Tenant-Pass-2", tenant="management")
    assert not await connects(client, "ten-1", "Tenant-Pass-1")

    ignored = (await upload(client, TENANTS)).json()  # t1/admin: every row lands in t1
    assert summary(ignored) == counters(3)
    for number in (1, 2, 3):
        assert await connects(client, f"ten-{number}", f"Tenant-Pass-{number}")
    assert len(await sql(services, "SELECT id FROM users WHERE tenant_id = 't2'")) == 1


async def test_a_reupload_with_another_idtype_keeps_one_managed_object(
    client: httpx.AsyncClient, services: Services
) -> None:
    assert summary((await upload(client, "ID;CREDENTIALS\nre-1;Reupload-Pass-1\n")).json()) == counters(1)
    again = (await upload(client, "ID;CREDENTIALS;IDTYPE\nre-1;Reupload-Pass-2;c8y_Imei\n")).json()
    assert summary(again) == counters(0, updated=1)
    assert len(await sql(services, "SELECT id FROM managed_objects WHERE owner = 'device_re-1'")) == 1
