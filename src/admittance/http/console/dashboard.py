"""Console pages: the dashboard.

Counts of registration requests by status, devices, claimed devices and running jobs (each a link to
its page, each shown only to a user whose roles allow that page), and a server-rendered SVG chart of
registrations and admissions per day over the last 14 days, with a table of the same numbers."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admittance.claiming.model import DeviceFilter
from admittance.claiming.service import ClaimingService
from admittance.devices.model import RegistrationStatus
from admittance.devices.registration import DayActivity, RegistrationService
from admittance.http.console import imports
from admittance.http.console.core import PREFIX
from admittance.http.console.page import Page, PageRoute
from admittance.jobs import JobService
from admittance.kernel.errors import PermissionDenied

DAYS = 14
REGISTRATIONS = PREFIX + "/registrations"
REGISTRATIONS_API = "/devicecontrol/newDeviceRequests"


def routes(pages: DashboardPage) -> list[PageRoute]:
    return [PageRoute("GET", PREFIX + "/", pages.dashboard)]


async def to_dashboard(_request: Request) -> Response:
    """`/console` (no slash) is the dashboard too."""
    return RedirectResponse(PREFIX + "/", status_code=308)


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


class DashboardPage:
    """The dashboard: counts and activity from the registration service, the claimed devices from the
    claiming service, the unfinished jobs from the job service."""

    def __init__(self, registrations: RegistrationService, claiming: ClaimingService, jobs: JobService) -> None:
        self._registrations = registrations
        self._claiming = claiming
        self._jobs = jobs

    async def dashboard(self, current: Page) -> Response:
        stats = [*await self._registration_stats(current), *await self._other_stats(current)]
        activity = None
        if current.can("GET", REGISTRATIONS_API):
            with suppress(PermissionDenied):
                activity = chart(await self._registrations.activity(current.principal, DAYS))
        return current.render(
            "dashboard.html",
            title="Dashboard",
            stats=stats,
            chart=activity,
            days=DAYS,
            can_register=current.can("POST", REGISTRATIONS_API),
        )

    # The counts this user may see: each only when the roles allow its page (a service that still
    # refuses leaves its count out rather than failing the dashboard).

    async def _registration_stats(self, current: Page) -> list[Stat]:
        stats: list[Stat] = []
        if not current.can("GET", REGISTRATIONS_API):
            return stats
        with suppress(PermissionDenied):
            counts = await self._registrations.counts(current.principal)
            for status, label in (
                (RegistrationStatus.WAITING_FOR_CONNECTION, "Waiting for connection"),
                (RegistrationStatus.PENDING_ACCEPTANCE, "Pending acceptance"),
                (RegistrationStatus.ACCEPTED, "Accepted, not yet collected"),
                (RegistrationStatus.BLOCKED, "Blocked"),
            ):
                href = f"{REGISTRATIONS}?status={status.value}"
                stats.append(Stat(label, counts[status], href, status.value.lower()))
            limit = await self._registrations.limit(current.principal)
            devices = PREFIX + "/devices" if current.can("GET", "/inventory/managedObjects") else REGISTRATIONS
            stats.append(Stat("Devices with credentials", limit.device_count, devices, "devices"))
        return stats

    async def _other_stats(self, current: Page) -> list[Stat]:
        stats: list[Stat] = []
        if current.can("GET", "/v1/claimed-devices"):
            with suppress(PermissionDenied):
                claimed = await self._claiming.list_devices(current.principal, DeviceFilter(), None, 1)
                stats.append(Stat("Claimed devices", claimed.total, PREFIX + "/claimed", "claimed"))
        if current.can(*imports.READ):
            with suppress(PermissionDenied):
                running = await self._jobs.count_unfinished(current.principal)
                stats.append(Stat("Jobs queued or running", running, PREFIX + "/imports", "jobs"))
        return stats
