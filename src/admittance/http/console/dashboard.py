"""Console pages: the dashboard.

Counts of registration requests by status, devices, claimed devices and running jobs (each a link to
its page, each shown only to a user whose roles allow that page), and a server-rendered SVG chart of
registrations and admissions per day over the last 14 days, with a table of the same numbers."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from admittance.claiming.model import DeviceFilter
from admittance.devices.model import RegistrationStatus
from admittance.devices.registration import DayActivity
from admittance.http.console import imports
from admittance.http.console.core import PREFIX, Console, Page, page
from admittance.kernel.errors import PermissionDenied

DAYS = 14
REGISTRATIONS = PREFIX + "/registrations"

# The chart's geometry (SVG user units; the CSS scales it to the card's width).
WIDTH, HEIGHT = 1180, 260
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 12, 34


@dataclass(frozen=True, slots=True)
class Stat:
    label: str
    value: int
    href: str
    key: str


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # "a": registered, "b": accepted
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True, slots=True)
class DayLabel:
    x: float
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[DayLabel]
    days: list[DayActivity]
    total_registered: int
    total_accepted: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    base: int = HEIGHT - BOTTOM


def _nice_max(value: int) -> int:
    """The top of the y axis: a round number at or above the largest bar (at least 4)."""
    top = max(value, 4)
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000):
        if top <= step * 4:
            return step * 4
    magnitude: int = 10 ** (len(str(top)) - 1)
    return -(-top // magnitude) * magnitude


def chart(days: list[DayActivity]) -> Chart:
    top = _nice_max(max([max(d.registered, d.accepted) for d in days] or [0]))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar_w = slot * 0.36
    bars: list[Bar] = []
    labels: list[DayLabel] = []
    for index, day in enumerate(days):
        x0 = LEFT + index * slot + slot * 0.12
        when = day.day.strftime("%b %d")
        for offset, (kind, value, noun) in enumerate(
            (("a", day.registered, "registered"), ("b", day.accepted, "accepted"))
        ):
            height = plot_h * value / top
            bars.append(
                Bar(
                    round(x0 + offset * bar_w, 2),
                    round(TOP + plot_h - height, 2),
                    round(bar_w, 2),
                    round(height, 2),
                    kind,
                    f"{when}: {value} {noun}",
                )
            )
        if (len(days) - 1 - index) % 2 == 0 or len(days) <= 7:  # today always labelled
            labels.append(DayLabel(round(LEFT + index * slot + slot / 2, 2), when))
    ticks = [Tick(round(TOP + plot_h - plot_h * step / 4, 2), top * step // 4) for step in range(5)]
    return Chart(
        bars,
        ticks,
        labels,
        days,
        sum(d.registered for d in days),
        sum(d.accepted for d in days),
    )


async def _stats(current: Page) -> list[Stat]:
    """The counts this user may see: each only when the roles allow its page (a service that still
    refuses leaves its count out rather than failing the dashboard)."""
    services, principal = current.services, current.principal
    stats: list[Stat] = []
    if current.can("GET", "/devicecontrol/newDeviceRequests"):
        with suppress(PermissionDenied):
            counts = await services.registrations.counts(principal)
            for status, label in (
                (RegistrationStatus.WAITING_FOR_CONNECTION, "Waiting for connection"),
                (RegistrationStatus.PENDING_ACCEPTANCE, "Pending acceptance"),
                (RegistrationStatus.ACCEPTED, "Accepted, not yet collected"),
                (RegistrationStatus.BLOCKED, "Blocked"),
            ):
                href = f"{REGISTRATIONS}?status={status.value}"
                stats.append(Stat(label, counts[status], href, status.value.lower()))
            limit = await services.registrations.limit(principal)
            devices = PREFIX + "/devices" if current.can("GET", "/inventory/managedObjects") else REGISTRATIONS
            stats.append(Stat("Devices with credentials", limit.device_count, devices, "devices"))
    if current.can("GET", "/v1/claimed-devices"):
        with suppress(PermissionDenied):
            claimed = await services.claiming.list_devices(principal, DeviceFilter(), None, 1)
            stats.append(Stat("Claimed devices", claimed.total, PREFIX + "/claimed", "claimed"))
    if current.can(*imports.READ):
        with suppress(PermissionDenied):
            running = await services.jobs.count_unfinished(principal)
            stats.append(Stat("Jobs queued or running", running, PREFIX + "/imports", "jobs"))
    return stats


def routes(console: Console) -> list[BaseRoute]:
    @page(console)
    async def dashboard(current: Page) -> Response:
        stats = await _stats(current)
        activity = None
        if current.can("GET", "/devicecontrol/newDeviceRequests"):
            with suppress(PermissionDenied):
                activity = chart(await current.services.registrations.activity(current.principal, DAYS))
        return current.render(
            "dashboard.html",
            title="Dashboard",
            stats=stats,
            chart=activity,
            days=DAYS,
            can_register=current.can("POST", "/devicecontrol/newDeviceRequests"),
        )

    return [Route(PREFIX + "/", dashboard, methods=["GET"]), Route(PREFIX, _to_dashboard, methods=["GET"])]


async def _to_dashboard(_request: Request) -> Response:
    return RedirectResponse(PREFIX + "/", status_code=308)
