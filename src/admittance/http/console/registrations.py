"""Console pages: the device registration queue.

The queue lists registration requests newest first, paged by keyset (an index range on any page of
100,000 requests), filtered by status and searched by device id prefix. Its table refreshes itself
every two seconds (`data-live`), so a device that starts polling shows up as PENDING_ACCEPTANCE
without a reload. Register, accept (with the security token when the device sent one and the
tenant's policy checks it), accept all, block and delete go through RegistrationService, which
authorizes, writes in one transaction and records the audit event."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance.devices.model import RegistrationRequest, RegistrationStatus
from admittance.devices.registration import NewRegistration, QueuePage
from admittance.http.console.core import PREFIX, Console, ConsoleError, Page, page
from admittance.http.params import whole_number
from admittance.identity.model import SecurityTokenPolicy

BASE = PREFIX + "/registrations"
API = "/devicecontrol/newDeviceRequests"
LIST = ("GET", API)
CREATE = ("POST", API)
PAGE_SIZE = 50
LIVE_INTERVAL_MS = 2000

STATUS_LABELS = {
    RegistrationStatus.WAITING_FOR_CONNECTION: "Waiting for connection",
    RegistrationStatus.PENDING_ACCEPTANCE: "Pending acceptance",
    RegistrationStatus.ACCEPTED: "Accepted",
    RegistrationStatus.BLOCKED: "Blocked",
}


def item_api(request_id: str) -> str:
    return f"{API}/{quote(request_id, safe='')}"


def dom_key(request_id: str) -> str:
    """A stable, HTML-id-safe key of a device id: a row's buttons keep their ids across live
    refreshes, so the keyboard focus stays on the same device's button."""
    return hashlib.sha256(request_id.encode()).hexdigest()[:16]


def _when(request: RegistrationRequest, moment: str) -> str:
    value = request.created_at if moment == "created" else request.updated_at
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True, slots=True)
class Row:
    request: RegistrationRequest
    key: str
    label: str
    created: str
    updated: str
    needs_token: bool
    can_accept: bool
    can_block: bool
    can_delete: bool


@dataclass(frozen=True, slots=True)
class Filters:
    status: RegistrationStatus | None
    search: str
    after: tuple[int, str] | None
    before: tuple[int, str] | None

    def query(self, **changes: object) -> str:
        values: dict[str, object] = {"status": self.status.value if self.status else "", "q": self.search}
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v})


def _cursor(text: str) -> tuple[int, str] | None:
    millis, sep, request_id = text.partition(":")
    moment = whole_number(millis, 0, 2**63 - 1)
    if not sep or moment is None or not request_id:
        return None
    return moment, request_id


def _cursor_text(cursor: tuple[int, str]) -> str:
    return f"{cursor[0]}:{cursor[1]}"


def _filters(current: Page) -> Filters:
    status_text = current.query("status")
    if status_text and status_text not in RegistrationStatus.__members__:
        raise ConsoleError(400, f"There is no status {status_text}.")
    return Filters(
        RegistrationStatus(status_text) if status_text else None,
        current.query("q")[:200],
        _cursor(current.query("after")),
        _cursor(current.query("before")),
    )


async def _queue(current: Page, filters: Filters) -> tuple[QueuePage, list[Row]]:
    services = current.services
    found = await services.registrations.queue(
        current.principal,
        status=filters.status,
        id_prefix=filters.search or None,
        after=filters.after,
        before=filters.before,
        size=PAGE_SIZE,
    )
    policies: dict[str, SecurityTokenPolicy] = {}
    rows = []
    for request in found.items:
        api = item_api(request.id)
        needs_token = False
        if request.security_token_digest is not None:
            if request.tenant_id not in policies:
                policies[request.tenant_id] = await services.registrations.token_policy(
                    current.principal, request.tenant_id
                )
            needs_token = policies[request.tenant_id] is not SecurityTokenPolicy.IGNORED
        rows.append(
            Row(
                request=request,
                key=dom_key(request.id),
                label=STATUS_LABELS.get(request.status, request.status.value),
                created=_when(request, "created"),
                updated=_when(request, "updated"),
                needs_token=needs_token,
                can_accept=request.status is RegistrationStatus.PENDING_ACCEPTANCE and current.can("PUT", api),
                can_block=request.status is not RegistrationStatus.BLOCKED and current.can("PUT", api),
                can_delete=current.can("DELETE", api),
            )
        )
    return found, rows


def _rows_context(current: Page, filters: Filters, found: QueuePage, rows: list[Row]) -> dict[str, Any]:
    prev = f"{BASE}?{filters.query(before=_cursor_text(found.prev_before))}" if found.prev_before else None
    nxt = f"{BASE}?{filters.query(after=_cursor_text(found.next_after))}" if found.next_after else None
    return {
        "rows": rows,
        "filters": filters,
        "prev_url": prev,
        "next_url": nxt,
        "show_tenant": current.principal.in_management_tenant,
        "BASE": BASE,
    }


def _after(current: Page, message: str) -> Response:
    """Back to the queue from a request's own page (it may be gone now), else to where the form was."""
    return current.redirect(BASE, message) if current.field("from") == "detail" else current.back(message, BASE)


def routes(console: Console) -> list[BaseRoute]:
    @page(console, needs=LIST)
    async def queue_page(current: Page) -> Response:
        filters = _filters(current)
        found, rows = await _queue(current, filters)
        here = filters.query(
            after=_cursor_text(filters.after) if filters.after else "",
            before=_cursor_text(filters.before) if filters.before else "",
        )
        statuses = [("", "Every status")] + [(status.value, STATUS_LABELS[status]) for status in RegistrationStatus]
        return current.render(
            "registrations.html",
            title="Registrations",
            live_url=f"{BASE}/rows" + (f"?{here}" if here else ""),
            live_interval=LIVE_INTERVAL_MS,
            statuses=statuses,
            can_create=current.can(*CREATE),
            can_accept_all=current.can("PUT", item_api("any")),
            **_rows_context(current, filters, found, rows),
        )

    @page(console, needs=LIST, background=True)
    async def queue_rows(current: Page) -> Response:
        """The live part of the queue page (its table and pager), fetched every two seconds."""
        filters = _filters(current)
        found, rows = await _queue(current, filters)
        return current.render("registrations_rows.html", **_rows_context(current, filters, found, rows))

    @page(console, needs=CREATE)
    async def register(current: Page) -> Response:
        device_id = current.field("id")
        if not device_id:
            raise ConsoleError(400, "Enter the device id to register.")
        new = NewRegistration(
            id=device_id,
            group_id=current.field("group") or None,
            enrollment_token=current.field("enrollment_token") or None,
        )
        await current.services.registrations.create(current.principal, new)
        return current.redirect(
            BASE, f"Device {device_id} is registered. It shows up as pending when it asks for its credentials."
        )

    @page(console, needs=LIST)
    async def detail(current: Page) -> Response:
        request_id = current.query("id")
        if not request_id:
            raise ConsoleError(404, "Name the registration request to show.")
        request = await current.services.registrations.get(current.principal, request_id)
        api = item_api(request.id)
        needs_token = False
        if request.security_token_digest is not None:
            policy = await current.services.registrations.token_policy(current.principal, request.tenant_id)
            needs_token = policy is not SecurityTokenPolicy.IGNORED
        return current.render(
            "registrations_detail.html",
            title=f"Registration {request.id}",
            item=request,
            key=dom_key(request.id),
            label=STATUS_LABELS.get(request.status, request.status.value),
            created=_when(request, "created"),
            updated=_when(request, "updated"),
            needs_token=needs_token,
            can_accept=request.status is RegistrationStatus.PENDING_ACCEPTANCE and current.can("PUT", api),
            can_block=request.status is not RegistrationStatus.BLOCKED and current.can("PUT", api),
            can_delete=current.can("DELETE", api),
            BASE=BASE,
        )

    def _target(current: Page) -> str:
        request_id = current.field("id")
        if not request_id:
            raise ConsoleError(400, "Name the registration request.")
        return request_id

    @page(console, needs=LIST)
    async def accept(current: Page) -> Response:
        request_id = _target(current)
        current.require("PUT", item_api(request_id))
        token = current.field("security_token") or None
        accepted = await current.services.registrations.accept(current.principal, request_id, token)
        if accepted.status is not RegistrationStatus.ACCEPTED:
            return current.back(("error", f"Device {request_id} was not accepted."), default=BASE)
        message = f"Device {request_id} is accepted: it receives its credentials at its next poll."
        return _after(current, message)

    @page(console, needs=LIST)
    async def block(current: Page) -> Response:
        request_id = _target(current)
        current.require("PUT", item_api(request_id))
        await current.services.registrations.block(current.principal, request_id)
        message = f"Device {request_id} is blocked: it gets no credentials."
        return _after(current, message)

    @page(console, needs=LIST)
    async def delete(current: Page) -> Response:
        request_id = _target(current)
        current.require("DELETE", item_api(request_id))
        await current.services.registrations.delete(current.principal, request_id)
        message = f"The registration request of device {request_id} is deleted."
        return _after(current, message)

    @page(console, needs=("PUT", item_api("any")))
    async def accept_all(current: Page) -> Response:
        results = await current.services.registrations.accept_all(current.principal)
        accepted = sum(1 for result in results if result.successful)
        failed = [result for result in results if not result.successful]
        if not results:
            return current.back(
                ("info", "No request was waiting for acceptance without a security token."), default=BASE
            )
        if failed:
            detail = "; ".join(f"{result.id}: {result.error}" for result in failed[:5])
            return current.back(("warning", f"{accepted} accepted, {len(failed)} not: {detail}"), default=BASE)
        return current.back(f"{accepted} device{'s' if accepted != 1 else ''} accepted.", default=BASE)

    return [
        Route(BASE, queue_page, methods=["GET"]),
        Route(BASE, register, methods=["POST"]),
        Route(BASE + "/rows", queue_rows, methods=["GET"]),
        Route(BASE + "/request", detail, methods=["GET"]),
        Route(BASE + "/accept", accept, methods=["POST"]),
        Route(BASE + "/accept-all", accept_all, methods=["POST"]),
        Route(BASE + "/block", block, methods=["POST"]),
        Route(BASE + "/delete", delete, methods=["POST"]),
    ]
