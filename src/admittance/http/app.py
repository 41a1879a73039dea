"""The ASGI app factory: Starlette at the top, vendor surfaces as plain routes (no per-request
middleware on the device polling path), one error rendering per surface."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from admittance import __version__
from admittance.bootstrap import Services, build_services
from admittance.http import console, errors, native
from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.compat import connectware, cumulocity, nrfcloud
from admittance.http.compat.cumulocity import est_routes
from admittance.http.compat.cumulocity.registration_routes import Handler
from admittance.http.state import AppState
from admittance.jobs.runner import stop_task
from admittance.kernel.errors import AdmittanceError
from admittance.settings import Settings

log = logging.getLogger("admittance.http")


class FastLane:
    """Serves POST on one path without Starlette's router and middleware stack, and hands every
    other request (and the lifespan) to the app. The device polling endpoint takes it: measured,
    the stack costs about a fifth of a poll. Errors render exactly as the app renders them."""

    def __init__(self, app: Starlette, path: str, handler: Handler, rendering: errors.ErrorRendering) -> None:
        self.app = app
        self.state = app.state
        self._path = path
        self._handler = handler
        self._rendering = rendering

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self._path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self._handler(request)
        except AdmittanceError as exc:
            response = await self._rendering.domain_error(request, exc)
        except Exception as exc:  # noqa: BLE001 - the last resort: a 500 with a request id only
            response = await self._rendering.unexpected(request, exc)
        await response(scope, receive, send)


def create_app(settings: Settings, services: Services | None = None) -> FastLane:
    """The app. Without `services` its lifespan builds them from `settings` and closes them at exit."""
    state = AppState(services)
    auth = BasicAuthenticator(state)
    rendering = errors.ErrorRendering(
        [
            (est_routes.PREFIX, est_routes.render),
            *((prefix, cumulocity.render) for prefix in cumulocity.PATH_PREFIXES),
            *((prefix, connectware.render) for prefix in connectware.PATH_PREFIXES),
            *((prefix, nrfcloud.render) for prefix in nrfcloud.PATH_PREFIXES),
            (console.PREFIX, console.render_problem),
        ],
        errors.problem_json,
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if services is not None:
            yield
            return
        built = await build_services(settings)
        state.set(built)
        stop = asyncio.Event()
        worker = asyncio.create_task(built.runner.run_forever(stop)) if settings.worker else None
        try:
            yield
        finally:
            if worker is not None:
                await stop_task(worker, stop)
            state.set(None)
            await built.close()

    async def health(_request: Request) -> Response:
        await state.services.database.fetch_one("SELECT 1 AS ok")
        return JSONResponse({"status": "UP", "version": __version__})

    async def index(request: Request) -> Response:
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(console.PREFIX + "/", status_code=303)  # a browser: the console
        return JSONResponse(
            {
                "name": "Admittance",
                "version": __version__,
                "apis": {
                    "cumulocity": "/devicecontrol/newDeviceRequests",
                    "connectware": "/api/session",
                    "admittance": native.PREFIX + "/jobs",
                },
                "console": console.PREFIX + "/",
            }
        )

    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            *cumulocity.routes(state, auth),
            *native.routes(state, auth),
            *connectware.routes(state, auth),
            *nrfcloud.routes(state, auth),
            *console.routes(state, auth),
        ],
        exception_handlers={
            AdmittanceError: rendering.domain_error,
            HTTPException: rendering.http_error,
            Exception: rendering.unexpected,
        },
        lifespan=lifespan,
    )
    app.state.admittance = state
    return FastLane(app, *cumulocity.polling_lane(state, auth), rendering)
