"""Console pages: the dashboard (to be built out)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance.http.console.core import PREFIX, Console, Page, page


def routes(console: Console) -> list[BaseRoute]:
    @page(console)
    async def dashboard(current: Page) -> Response:
        return current.render("dashboard.html", title="Dashboard")

    return [Route(PREFIX + "/", dashboard, methods=["GET"]), Route(PREFIX, _to_dashboard, methods=["GET"])]


async def _to_dashboard(_request: object) -> Response:
    from starlette.responses import RedirectResponse

    return RedirectResponse(PREFIX + "/", status_code=308)
