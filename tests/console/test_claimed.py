"""The claimed-devices and tags pages through the forms (no browser), on SQLite and PostgreSQL:
claim by token, list and filter, tags, block, unblock, unclaim, commands; permissions."""

from __future__ import annotations

import re

from admittance.bootstrap import Services
from admittance.claiming.model import DeviceFilter, TagKind
from admittance.kernel.access import RoleName
from admittance.kernel.principal import Principal
from tests.support import secrets
from tests.support.console import ConsoleClient
from tests.support.nrf import device_key, mint, new_uuid, register_key
from tests.support.sessions import USER_PASSWORD

TENANT = "t1"  # the default tenant, where the first start puts the admin
ADMIN = Principal.of(0, TENANT, "admin", [RoleName.CONNECTWARE_ADMIN.value])


async def token_for(services: Services, device: str | None = None) -> tuple[str, str]:
    """(device UUID, claim token) with the key registered in the admin's tenant."""
    key, device = device_key(), device or new_uuid()
    await register_key(services, key, device, TENANT)
    token = mint(key, device)
    secrets.register(token)
    return device, token


async def test_claim_by_token_with_tags_shows_the_device_and_lists_it(
    admin_console: ConsoleClient, services: Services
) -> None:
    empty = await admin_console.get("/console/claimed")
    assert empty.status_code == 200
    assert "No claimed devices yet" in empty.text
    device, token = await token_for(services)
    # pasted with a line break in the middle, as a terminal wraps it
    answer = await admin_console.post(
        "/console/claimed/claim", {"claim_token": token[:40] + "\n" + token[40:], "tags": "line-a, batch-7"}
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/console/claimed/{device}"
    detail = await admin_console.get(answer.headers["location"])
    assert detail.status_code == 200
    assert f"Device {device} claimed." in detail.text
    assert "line-a" in detail.text
    assert "batch-7" in detail.text
    assert "No provisioning commands" in detail.text
    stored = await services.claiming.get_device(ADMIN, device)
    assert set(stored.tags) == {"line-a", "batch-7"}
    listing = await admin_console.get("/console/claimed")
    assert f'href="/console/claimed/{device}"' in listing.text
    assert "1 device." in listing.text


async def test_a_bad_or_reused_token_is_a_readable_message_and_claims_nothing(
    admin_console: ConsoleClient, services: Services
) -> None:
    await admin_console.get("/console/claimed")
    bad = await admin_console.post(
        "/console/claimed/claim",
        {"claim_token": "not-a-token"},
        headers={"referer": "https://testserver/console/claimed"},
    )
    assert bad.status_code == 303
    assert bad.headers["location"] == "/console/claimed"
    page = await admin_console.get("/console/claimed")
    assert 'class="flash flash-error"' in page.text
    assert "No claimed devices yet" in page.text
    device, token = await token_for(services)
    assert (await admin_console.post("/console/claimed/claim", {"claim_token": token})).status_code == 303
    again = await admin_console.post(
        "/console/claimed/claim", {"claim_token": token}, headers={"referer": "https://testserver/console/claimed"}
    )
    assert again.status_code == 303
    shown = await admin_console.get("/console/claimed")
    assert re.search(r"flash-error[^>]*>[^<]*(already|replay|used)", shown.text, re.IGNORECASE), shown.text[:3000]
    unknown_key = mint(device_key(), new_uuid())
    secrets.register(unknown_key)
    await admin_console.post(
        "/console/claimed/claim",
        {"claim_token": unknown_key},
        headers={"referer": "https://testserver/console/claimed"},
    )
    assert "known-keys" in (await admin_console.get("/console/claimed")).text
    found = await services.claiming.list_devices(ADMIN, DeviceFilter(), None, 10)
    assert [item.id for item in found.items] == [device]


async def test_filter_by_tag_and_page_through(admin_console: ConsoleClient, services: Services) -> None:
    tagged = []
    for index in range(3):
        device, token = await token_for(services)
        await services.claiming.claim(ADMIN, token, ["red"] if index != 1 else ["blue"])
        tagged.append(device)
    await services.claiming.create_tag(ADMIN, TagKind.CLAIMED, "red", "Red devices")
    red = await admin_console.get("/console/claimed?tag=red")
    assert red.status_code == 200
    assert tagged[0] in red.text
    assert tagged[2] in red.text
    assert tagged[1] not in red.text
    assert '<option value="red" selected>' in red.text
    blocked = await admin_console.get("/console/claimed?status=blocked")
    assert "No device matches" in blocked.text
    assert (await admin_console.get("/console/claimed?status=lost")).status_code == 400
    assert (await admin_console.get("/console/claimed?after=%%%")).status_code == 400


async def test_paging_follows_the_next_link_to_every_device(admin_console: ConsoleClient, services: Services) -> None:
    import admittance.http.console.claimed as claimed

    original = claimed.PAGE_SIZE
    claimed.PAGE_SIZE = 2
    try:
        devices = set()
        for _ in range(5):
            device, token = await token_for(services)
            await services.claiming.claim(ADMIN, token)
            devices.add(device)
        seen: list[str] = []
        url: str | None = "/console/claimed"
        pages = 0
        while url is not None:
            answer = await admin_console.get(url)
            assert answer.status_code == 200
            seen += re.findall(r'href="/console/claimed/([0-9a-f-]{36})"', answer.text)
            found = re.search(r'href="([^"]+)" rel="next"', answer.text)
            url = found.group(1).replace("&amp;", "&") if found else None
            pages += 1
        assert pages == 3
        assert sorted(seen) == sorted(devices)
    finally:
        claimed.PAGE_SIZE = original


async def test_tags_block_unblock_and_unclaim_from_the_detail_page(
    admin_console: ConsoleClient, services: Services
) -> None:
    device, token = await token_for(services)
    await services.claiming.claim(ADMIN, token, ["one"])
    url = f"/console/claimed/{device}"
    assert (await admin_console.get(url)).status_code == 200
    assert (await admin_console.post(url + "/tags", {"tags": "two, three"})).status_code == 303
    assert set((await services.claiming.get_device(ADMIN, device)).tags) == {"two", "three"}
    bad = await admin_console.post(url + "/tags", {"tags": "x" * 101}, headers={"referer": f"https://testserver{url}"})
    assert bad.status_code == 303
    assert "at most 100 characters" in (await admin_console.get(url)).text
    assert (await admin_console.post(url + "/block")).status_code == 303
    page = await admin_console.get(url)
    assert "is blocked" in page.text
    assert "badge-blocked" in page.text
    assert f'action="{url}/unblock"' in page.text
    assert (await services.claiming.get_device(ADMIN, device)).status.value == "BLOCKED"
    assert (await admin_console.post(url + "/unblock")).status_code == 303
    assert (await services.claiming.get_device(ADMIN, device)).status.value == "READY"
    gone = await admin_console.post(url + "/unclaim")
    assert gone.status_code == 303
    assert gone.headers["location"] == "/console/claimed"
    assert (await admin_console.get(url)).status_code == 404
    assert "No claimed devices yet" in (await admin_console.get("/console/claimed")).text


async def test_pending_commands_are_listed_and_can_be_cancelled(
    admin_console: ConsoleClient, services: Services
) -> None:
    device, token = await token_for(services)
    await services.claiming.claim(ADMIN, token)
    command = await services.provisioning.create_command(
        ADMIN, device, {"description": "say hello", "request": {"finished": {}}}
    )
    url = f"/console/claimed/{device}"
    page = await admin_console.get(url)
    assert "say hello" in page.text
    assert "badge-pending" in page.text
    cancel = f"{url}/commands/{command.id}/cancel"
    assert f'action="{cancel}"' in page.text
    assert (await admin_console.post(cancel)).status_code == 303
    assert (await services.provisioning.get_command(ADMIN, device, command.id)).status.value == "CANCELLED"
    assert f'action="{cancel}"' not in (await admin_console.get(url)).text


async def test_tag_definitions_create_describe_delete(admin_console: ConsoleClient, services: Services) -> None:
    page = await admin_console.get("/console/claimed/tags")
    assert page.status_code == 200
    assert "No tags yet" in page.text
    assert (
        await admin_console.post("/console/claimed/tags", {"tag": "field", "description": "In the field"})
    ).status_code == 303
    [tag] = await services.claiming.list_tags(ADMIN, TagKind.CLAIMED)
    assert (tag.tag, tag.description) == ("field", "In the field")
    duplicate = await admin_console.post(
        "/console/claimed/tags", {"tag": "field"}, headers={"referer": "https://testserver/console/claimed/tags"}
    )
    assert duplicate.status_code == 303
    assert "exists already" in (await admin_console.get("/console/claimed/tags")).text
    described = await admin_console.post(f"/console/claimed/tags/{tag.id}/describe", {"description": "Deployed"})
    assert described.status_code == 303
    assert (await services.claiming.get_tag(ADMIN, TagKind.CLAIMED, tag.id)).description == "Deployed"
    device, token = await token_for(services)
    await services.claiming.claim(ADMIN, token, ["field", "keep"])
    assert (await admin_console.post(f"/console/claimed/tags/{tag.id}/delete")).status_code == 303
    assert await services.claiming.list_tags(ADMIN, TagKind.CLAIMED) == []
    assert (await services.claiming.get_device(ADMIN, device)).tags == ("keep",)


async def test_a_viewer_reads_but_sees_no_forms_and_the_server_refuses_its_posts(
    console: ConsoleClient, services: Services
) -> None:
    device, token = await token_for(services)
    await services.claiming.claim(ADMIN, token, ["one"])
    await services.identity.create_user(TENANT, "viewer", USER_PASSWORD, (RoleName.NRF_VIEWER.value,))
    assert (await console.sign_in("viewer", USER_PASSWORD)).status_code == 303
    listing = await console.get("/console/claimed")
    assert listing.status_code == 200
    assert 'action="/console/claimed/claim"' not in listing.text
    # claimed by an admin: hidden from viewers and editors, as on /v1
    assert device not in listing.text
    assert (await console.get(f"/console/claimed/{device}")).status_code == 404
    tags = await console.get("/console/claimed/tags")
    assert tags.status_code == 200
    assert 'action="/console/claimed/tags"' not in tags.text
    _, other = await token_for(services)
    for url, data in (
        ("/console/claimed/claim", {"claim_token": other}),
        ("/console/claimed/tags", {"tag": "sneaky"}),
        (f"/console/claimed/{device}/block", {}),
        (f"/console/claimed/{device}/unclaim", {}),
        (f"/console/claimed/{device}/tags", {"tags": "x"}),
    ):
        refused = await console.post(url, data)
        assert refused.status_code == 403, url
    assert await services.claiming.list_tags(ADMIN, TagKind.CLAIMED) == []
    assert (await services.claiming.get_device(ADMIN, device)).status.value == "READY"


async def test_without_nrf_roles_the_pages_are_refused(console: ConsoleClient, services: Services) -> None:
    await services.identity.create_user(TENANT, "registrar", USER_PASSWORD, (RoleName.DEVICE_CONTROL_ADMIN.value,))
    assert (await console.sign_in("registrar", USER_PASSWORD)).status_code == 303
    dashboard = await console.get("/console/")
    assert 'href="/console/claimed"' not in dashboard.text
    for url in ("/console/claimed", "/console/claimed/tags", f"/console/claimed/{new_uuid()}"):
        assert (await console.get(url)).status_code == 403, url
