"""The registrations pages through the forms (no browser), on SQLite and PostgreSQL: the queue and its
live part, register, accept (with and without the security token), accept all, block, delete,
filter, search, keyset paging, and permissions (hidden buttons and refused posts)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from admittance.bootstrap import Services
from admittance.devices.model import IssuedCredentials, NotYet, RegistrationStatus
from admittance.devices.registration import NewRegistration
from admittance.identity.directory_model import NewUser
from tests.support.accounts import admin_of, poll
from tests.support.console import ConsoleClient

BASE = "/console/registrations"
READER_PASSWORD = "reader-Secret-789"


async def status_of(services: Services, device_id: str) -> RegistrationStatus | None:
    page = await services.registrations.queue(await admin_of(services), id_prefix=device_id, size=500)
    found = [request for request in page.items if request.id == device_id]
    return found[0].status if found else None


def flash_of(page: str) -> str:
    found = re.search(r'<div class="flash flash-(\w+)" role="\w+">([^<]*)</div>', page)
    assert found, "the page shows no message"
    return f"{found.group(1)}: {found.group(2)}"


def device_ids(page: str) -> list[str]:
    return re.findall(r'data-device-id="([^"]+)"', page)


async def test_a_first_time_user_sees_what_to_do_then_registers_a_device(admin_console: ConsoleClient) -> None:
    empty = await admin_console.get(BASE)
    assert empty.status_code == 200
    assert "No device has asked to join yet" in empty.text
    assert 'data-live="/console/registrations/rows"' in empty.text
    assert '<label for="f-id">' in empty.text

    answer = await admin_console.post(BASE, {"id": "sensor-0001", "group": "", "enrollment_token": ""})
    assert answer.status_code == 303
    assert answer.headers["location"] == BASE
    listed = await admin_console.get(BASE)
    assert "Device sensor-0001 is registered" in flash_of(listed.text)
    assert device_ids(listed.text) == ["sensor-0001"]
    assert "badge-waiting-for-connection" in listed.text
    # Waiting for its first poll: nothing to accept yet.
    assert 'aria-label="Accept device sensor-0001"' not in listed.text

    again = await admin_console.post(BASE, {"id": "sensor-0001"}, headers={"referer": "https://testserver" + BASE})
    assert again.status_code == 303
    assert "exists already" in flash_of((await admin_console.get(BASE)).text)
    blank = await admin_console.post(BASE, {"id": "  "})
    assert blank.status_code == 400
    assert "Enter the device id" in blank.text


async def test_a_polling_device_shows_up_pending_in_the_live_rows_and_is_accepted(
    admin_console: ConsoleClient, services: Services
) -> None:
    await admin_console.post(BASE, {"id": "pump-7"})
    assert isinstance(await poll(services, "pump-7"), NotYet)

    live = await admin_console.get(BASE + "/rows", headers={"x-console-background": "1"})
    assert live.status_code == 200
    assert "<html" not in live.text  # only the table: the page swaps it in
    assert "badge-pending-acceptance" in live.text
    assert 'aria-label="Accept device pump-7"' in live.text
    assert 'aria-label="Block device pump-7"' in live.text

    accepted = await admin_console.post(
        BASE + "/accept", {"id": "pump-7"}, headers={"referer": "https://testserver" + BASE + "?q=pump"}
    )
    assert accepted.status_code == 303
    assert accepted.headers["location"] == BASE + "?q=pump"  # back to the same filtered page
    assert await status_of(services, "pump-7") is RegistrationStatus.ACCEPTED
    assert "is accepted" in flash_of((await admin_console.get(BASE)).text)

    issued = await poll(services, "pump-7")
    assert isinstance(issued, IssuedCredentials)
    assert issued.username == "device_pump-7"
    assert await status_of(services, "pump-7") is None  # collected: gone from the queue


async def test_a_device_that_sent_a_security_token_is_accepted_with_it_on_its_page(
    admin_console: ConsoleClient, services: Services
) -> None:
    await admin_console.post(BASE, {"id": "meter-1"})
    await poll(services, "meter-1", "s3cret-token")
    listed = await admin_console.get(BASE)
    assert "token sent" in listed.text
    assert 'href="/console/registrations/request?id=meter-1"' in listed.text
    assert '<button type="submit" class="btn small ok"' not in listed.text  # no one-click accept

    detail = await admin_console.get(BASE + "/request?id=meter-1")
    assert detail.status_code == 200
    assert '<label for="f-security_token">' in detail.text

    wrong = await admin_console.post(
        BASE + "/accept",
        {"id": "meter-1", "security_token": "wrong", "from": "detail"},
        headers={"referer": "https://testserver" + BASE + "/request?id=meter-1"},
    )
    assert wrong.status_code == 303
    assert wrong.headers["location"] == BASE + "/request?id=meter-1"
    shown = await admin_console.get(wrong.headers["location"])
    assert "does not match" in flash_of(shown.text)
    assert await status_of(services, "meter-1") is RegistrationStatus.PENDING_ACCEPTANCE

    right = await admin_console.post(
        BASE + "/accept", {"id": "meter-1", "security_token": "s3cret-token", "from": "detail"}
    )
    assert right.status_code == 303
    assert right.headers["location"] == BASE
    assert await status_of(services, "meter-1") is RegistrationStatus.ACCEPTED


async def test_accept_all_skips_requests_with_a_token_and_block_and_delete_work(
    admin_console: ConsoleClient, services: Services
) -> None:
    for device_id in ("a-1", "a-2", "a-3", "a-4"):
        await admin_console.post(BASE, {"id": device_id})
    await poll(services, "a-1")
    await poll(services, "a-2")
    await poll(services, "a-3", "token-3")

    done = await admin_console.post(BASE + "/accept-all")
    assert done.status_code == 303
    assert "2 devices accepted" in flash_of((await admin_console.get(BASE)).text)
    assert await status_of(services, "a-1") is RegistrationStatus.ACCEPTED
    assert await status_of(services, "a-2") is RegistrationStatus.ACCEPTED
    assert await status_of(services, "a-3") is RegistrationStatus.PENDING_ACCEPTANCE
    assert await status_of(services, "a-4") is RegistrationStatus.WAITING_FOR_CONNECTION

    blocked = await admin_console.post(BASE + "/block", {"id": "a-3"})
    assert blocked.status_code == 303
    assert await status_of(services, "a-3") is RegistrationStatus.BLOCKED
    assert isinstance(await poll(services, "a-3", "token-3"), NotYet)

    deleted = await admin_console.post(BASE + "/delete", {"id": "a-4", "from": "detail"})
    assert deleted.status_code == 303
    assert deleted.headers["location"] == BASE
    assert await status_of(services, "a-4") is None
    missing = await admin_console.post(BASE + "/delete", {"id": "a-4"})
    assert missing.status_code == 303
    assert "There is no registration request for device id a-4" in flash_of((await admin_console.get(BASE)).text)

    nothing = await admin_console.post(BASE + "/accept-all")
    assert "No request was waiting" in flash_of((await admin_console.get(nothing.headers["location"])).text)


async def test_filter_by_status_search_by_id_prefix_and_page_by_keyset(
    admin_console: ConsoleClient, services: Services
) -> None:
    principal = await admin_of(services)
    for n in range(120):
        await services.registrations.create(principal, NewRegistration(id=f"dev-{n:04d}"))
    await services.registrations.create(principal, NewRegistration(id="Other_1"))
    await poll(services, "dev-0003")

    pending = await admin_console.get(BASE + "?status=PENDING_ACCEPTANCE")
    assert device_ids(pending.text) == ["dev-0003"]
    assert (await admin_console.get(BASE + "?status=NOPE")).status_code == 400

    # A case-insensitive prefix; LIKE's wildcards in the search are plain characters.
    assert device_ids((await admin_console.get(BASE + "?q=oTHer")).text) == ["Other_1"]
    assert device_ids((await admin_console.get(BASE + "?q=dev-011")).text) == [
        f"dev-{n:04d}" for n in range(119, 109, -1)
    ]
    assert device_ids((await admin_console.get(BASE + "?q=dev%25")).text) == []
    assert device_ids((await admin_console.get(BASE + "?q=other%5F")).text) == ["Other_1"]
    nothing = await admin_console.get(BASE + "?q=zzz")
    assert "No request matches" in nothing.text

    # Newest first, 50 a page: 121 requests are three pages, each exactly once, and back again.
    seen: list[str] = []
    url = BASE + "?q=dev-"
    pages = []
    while True:
        answer = await admin_console.get(url)
        assert answer.status_code == 200
        pages.append(url)
        seen.extend(device_ids(answer.text))
        found = re.search(r'<a href="([^"]+)" rel="next">', answer.text)
        if not found:
            break
        url = found.group(1).replace("&amp;", "&")
        assert parse_qs(urlsplit(url).query)["q"] == ["dev-"]  # the filter is kept
    assert len(pages) == 3
    assert seen == [f"dev-{n:04d}" for n in range(119, -1, -1)]
    last = await admin_console.get(url)
    back = re.search(r'<a href="([^"]+)" rel="prev">', last.text)
    assert back
    middle = await admin_console.get(back.group(1).replace("&amp;", "&"))
    assert device_ids(middle.text) == [f"dev-{n:04d}" for n in range(69, 19, -1)]
    first = re.search(r'<a href="([^"]+)" rel="prev">', middle.text)
    assert first
    top = await admin_console.get(first.group(1).replace("&amp;", "&"))
    assert device_ids(top.text) == [f"dev-{n:04d}" for n in range(119, 69, -1)]
    assert 'rel="prev"' not in top.text
    # The live part keeps the page it was opened on.
    assert f'data-live="/console/registrations/rows?{urlsplit(url).query.replace("&", "&amp;")}"' in last.text


async def test_a_read_only_user_sees_the_queue_without_buttons_and_cannot_post(
    console: ConsoleClient, services: Services
) -> None:
    principal = await admin_of(services)
    await services.users.create_user(
        principal, NewUser(username="reader", password=READER_PASSWORD, roles=("ROLE_DEVICE_CONTROL_READ",))
    )
    await services.registrations.create(principal, NewRegistration(id="gate-9"))
    await poll(services, "gate-9")
    assert (await console.sign_in("reader", READER_PASSWORD)).status_code == 303

    listed = await console.get(BASE)
    assert listed.status_code == 200
    assert device_ids(listed.text) == ["gate-9"]
    assert "Accept device gate-9" not in listed.text
    assert "Block device gate-9" not in listed.text
    assert "Delete the request" not in listed.text
    assert "register-heading" not in listed.text
    assert "Accept all pending" not in listed.text

    for path, data in (
        (BASE + "/accept", {"id": "gate-9"}),
        (BASE + "/block", {"id": "gate-9"}),
        (BASE + "/delete", {"id": "gate-9"}),
        (BASE + "/accept-all", {}),
        (BASE, {"id": "gate-10"}),
    ):
        refused = await console.post(path, data)
        assert refused.status_code == 403, path
    assert await status_of(services, "gate-9") is RegistrationStatus.PENDING_ACCEPTANCE
    assert await status_of(services, "gate-10") is None


async def test_a_user_without_device_control_gets_403_and_a_signed_out_post_changes_nothing(
    console: ConsoleClient, services: Services
) -> None:
    principal = await admin_of(services)
    await services.users.create_user(
        principal, NewUser(username="outsider", password=READER_PASSWORD, roles=("ROLE_INVENTORY_READ",))
    )
    await services.registrations.create(principal, NewRegistration(id="door-1"))
    await poll(services, "door-1")

    signed_out = await console.http.post(BASE + "/accept", data={"id": "door-1", "csrf_token": "x"})
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/console/sign-in")

    assert (await console.sign_in("outsider", READER_PASSWORD)).status_code == 303
    for path in (BASE, BASE + "/rows", BASE + "/request?id=door-1"):
        assert (await console.get(path)).status_code == 403, path
    assert (await console.post(BASE + "/accept", {"id": "door-1"})).status_code == 403
    forged = await console.post(BASE + "/accept", {"id": "door-1"}, csrf="not-the-token")
    assert forged.status_code == 403
    assert await status_of(services, "door-1") is RegistrationStatus.PENDING_ACCEPTANCE
    dashboard = await console.get("/console/")
    assert 'href="/console/registrations' not in dashboard.text


async def test_a_device_id_with_spaces_and_markup_is_escaped_and_its_buttons_work(
    admin_console: ConsoleClient, services: Services
) -> None:
    odd = 'Büro <b>"Gerät"</b> #1 & co?x=1'
    await admin_console.post(BASE, {"id": odd})
    await poll(services, odd)
    listed = await admin_console.get(BASE)
    assert "<b>" not in listed.text
    assert 'aria-label="Accept device Büro &lt;b&gt;&#34;Gerät&#34;&lt;/b&gt; #1 &amp; co?x=1"' in listed.text
    link = "/console/registrations/request?id=B%C3%BCro%20%3Cb%3E%22Ger%C3%A4t%22%3C%2Fb%3E%20%231%20%26%20co%3Fx%3D1"
    assert f'href="{link}"' in listed.text
    detail = await admin_console.get(link)
    assert detail.status_code == 200
    assert await status_of(services, odd) is RegistrationStatus.PENDING_ACCEPTANCE
    assert (await admin_console.post(BASE + "/accept", {"id": odd})).status_code == 303
    assert await status_of(services, odd) is RegistrationStatus.ACCEPTED
    assert (await admin_console.get(BASE + "/request?id=nobody")).status_code == 404
