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

from admittance.devices.model import RegistrationRequest, RegistrationStatus
from admittance.devices.registration import NewRegistration, QueuePage, RegistrationService
from admittance.http.console.core import PREFIX, ConsoleError
from admittance.http.console.page import Page, PageRoute
from admittance.http.params import whole_number
from admittance.identity.model import SecurityTokenPolicy

BASE = PREFIX + "/registrations"
API = "/devicecontrol/newDeviceRequests"
LIST = ("GET", API)
CREATE = ("POST", API)
PAGE_SIZE = 50
LIVE_INTERVAL_MS = 2000
ACCEPT_ALL = ("PUT", f"{API}/any")

STATUS_LABELS = {
    RegistrationStatus.WAITING_FOR_CONNECTION: "Waiting for connection",
    RegistrationStatus.PENDING_ACCEPTANCE: "Pending acceptance",
    RegistrationStatus.ACCEPTED: "Accepted",
    RegistrationStatus.BLOCKED: "Blocked",
}


def routes(pages: RegistrationPages) -> list[PageRoute]:
    return [
        PageRoute("GET", BASE, pages.queue_page, needs=LIST),
        PageRoute("POST", BASE, pages.register, needs=CREATE),
        PageRoute("GET", BASE + "/rows", pages.queue_rows, needs=LIST, background=True),
        PageRoute("GET", BASE + "/request", pages.detail, needs=LIST),
        PageRoute("POST", BASE + "/accept", pages.accept, needs=LIST),
        PageRoute("POST", BASE + "/accept-all", pages.accept_all, needs=ACCEPT_ALL),
        PageRoute("POST", BASE + "/block", pages.block, needs=LIST),
        PageRoute("POST", BASE + "/delete", pages.delete, needs=LIST),
    ]


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


def _actions(current: Page, request: RegistrationRequest) -> dict[str, bool]:
    """What the user may do with a request, as the API would allow it."""
    api = item_api(request.id)
    return {
        "can_accept": request.status is RegistrationStatus.PENDING_ACCEPTANCE and current.can("PUT", api),
        "can_block": request.status is not RegistrationStatus.BLOCKED and current.can("PUT", api),
        "can_delete": current.can("DELETE", api),
    }


def _row(current: Page, request: RegistrationRequest, needs_token: bool) -> Row:
    return Row(
        request=request,
        key=dom_key(request.id),
        label=STATUS_LABELS.get(request.status, request.status.value),
        created=_when(request, "created"),
        updated=_when(request, "updated"),
        needs_token=needs_token,
        **_actions(current, request),
    )


def _after(current: Page, message: str) -> Response:
    """Back to the queue from a request's own page (it may be gone now), else to where the form was."""
    return current.redirect(BASE, message) if current.field("from") == "detail" else current.back(message, BASE)


def _target(current: Page) -> str:
    request_id = current.field("id")
    if not request_id:
        raise ConsoleError(400, "Name the registration request.")
    return request_id


class RegistrationPages:
    """The queue, a request's page and the forms on them, through the registration service."""

    def __init__(self, registrations: RegistrationService) -> None:
        self._registrations = registrations

    async def queue_page(self, current: Page) -> Response:
        filters = _filters(current)
        found, rows = await self._queue(current, filters)
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
            can_accept_all=current.can(*ACCEPT_ALL),
            **_rows_context(current, filters, found, rows),
        )

    async def queue_rows(self, current: Page) -> Response:
        """The live part of the queue page (its table and pager), fetched every two seconds."""
        filters = _filters(current)
        found, rows = await self._queue(current, filters)
        return current.render("registrations_rows.html", **_rows_context(current, filters, found, rows))

    async def _queue(self, current: Page, filters: Filters) -> tuple[QueuePage, list[Row]]:
        found = await self._registrations.queue(
            current.principal,
            status=filters.status,
            id_prefix=filters.search or None,
            after=filters.after,
            before=filters.before,
            size=PAGE_SIZE,
        )
        policies: dict[str, SecurityTokenPolicy] = {}  # one look-up per tenant on the page
        rows = []
        for request in found.items:
            needs_token = False
            if request.security_token_digest is not None:
                if request.tenant_id not in policies:
                    policies[request.tenant_id] = await self._registrations.token_policy(
                        current.principal, request.tenant_id
                    )
                needs_token = policies[request.tenant_id] is not SecurityTokenPolicy.IGNORED
            rows.append(_row(current, request, needs_token))
        return found, rows

    async def register(self, current: Page) -> Response:
        device_id = current.field("id")
        if not device_id:
            raise ConsoleError(400, "Enter the device id to register.")
        new = NewRegistration(
            id=device_id,
            group_id=current.field("group") or None,
            enrollment_token=current.field("enrollment_token") or None,
        )
        await self._registrations.create(current.principal, new)
        return current.redirect(
            BASE, f"Device {device_id} is registered. It shows up as pending when it asks for its credentials."
        )

    async def detail(self, current: Page) -> Response:
        request_id = current.query("id")
        if not request_id:
            raise ConsoleError(404, "Name the registration request to show.")
        request = await self._registrations.get(current.principal, request_id)
        needs_token = False
        if request.security_token_digest is not None:
            policy = await self._registrations.token_policy(current.principal, request.tenant_id)
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
            BASE=BASE,
            **_actions(current, request),
        )

    async def accept(self, current: Page) -> Response:
        request_id = _target(current)
        current.require("PUT", item_api(request_id))
        token = current.field("security_token") or None
        accepted = await self._registrations.accept(current.principal, request_id, token)
        if accepted.status is not RegistrationStatus.ACCEPTED:
            return current.back(("error", f"Device {request_id} was not accepted."), default=BASE)
        return _after(current, f"Device {request_id} is accepted: it receives its credentials at its next poll.")

    async def block(self, current: Page) -> Response:
        request_id = _target(current)
        current.require("PUT", item_api(request_id))
        await self._registrations.block(current.principal, request_id)
        return _after(current, f"Device {request_id} is blocked: it gets no credentials.")

    async def delete(self, current: Page) -> Response:
        request_id = _target(current)
        current.require("DELETE", item_api(request_id))
        await self._registrations.delete(current.principal, request_id)
        return _after(current, f"The registration request of device {request_id} is deleted.")

    async def accept_all(self, current: Page) -> Response:
        results = await self._registrations.accept_all(current.principal)
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
