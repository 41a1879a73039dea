"""The ASGI app factory: Starlette at the top, each surface a mount with its own routes and error
renderer (http/surface.py), and the device polling path on a fast lane past the router.

Routes are built from built services: `create_app(settings, services)` builds them at once; without
services, the app's lifespan builds the services first, then the routes, and closes both at exit.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from admittance import __version__
from admittance.bootstrap import Services, build_services
from admittance.http import console, errors, native
from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.client_cert import ClientCertificates
from admittance.http.compat import connectware, cumulocity, nrfcloud
from admittance.http.compat.cumulocity import est_routes
from admittance.http.guard import Guard
from admittance.http.params import header
from admittance.http.surface import Endpoint, endpoints
from admittance.jobs.runner import stop_task
from admittance.kernel.errors import AdmittanceError, Unavailable
from admittance.mqtt.server import start_bootstrap_listener
from admittance.settings import Settings


class FastLane:
    """Serves POST on one path without Starlette's router and middleware stack, and hands every
    other request to the app. The device polling endpoint takes it: measured, the stack costs about
    a fifth of a poll. Errors render exactly as the path's surface renders them."""

    def __init__(self, app: Starlette, path: str, endpoint: Endpoint, rendering: errors.Rendering) -> None:
        self.app = app
        self._path = path
        self._endpoint = endpoint
        self._rendering = rendering

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self._path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self._endpoint(request)
        except AdmittanceError as exc:
            response = await self._rendering.domain_error(request, exc)
        except Exception as exc:  # noqa: BLE001 - the last resort: a 500 with a request id only
            response = await self._rendering.unexpected(request, exc)
        await response(scope, receive, send)


def serve(services: Services) -> FastLane:
    """The app for built services: every surface's routes, built from the services they use."""
    settings = services.settings
    client_certificates = ClientCertificates(settings)
    auth = BasicAuthenticator(
        services.identity,
        services.sessions,
        services.certificates,
        client_certificates,
        settings.default_tenant,
        services.last_seen,
    )
    polls = cumulocity.surface(services, auth)
    surfaces = [
        polls,
        est_routes.surface(services.est, services.identity, client_certificates),
        native.surface(services, auth, client_certificates),
        connectware.surface(services, auth),
        nrfcloud.surface(services, Guard(auth)),
        console.surface(services, auth),
    ]
    app = Starlette(
        routes=[Route("/", _index, methods=["GET"]), Route("/health", _health(services), methods=["GET"]), *surfaces],
        exception_handlers=errors.Rendering(errors.problem_json).handlers(),
    )
    return FastLane(
        app, cumulocity.CREDENTIALS_PATH, polls.endpoint("POST", cumulocity.CREDENTIALS_PATH), polls.rendering
    )


class Admittance:
    """The ASGI application. Before its routes exist (a lifespan still building the services) a
    request gets a 503; the lifespan protocol is answered here, around building and closing."""

    def __init__(self, settings: Settings, services: Services | None = None) -> None:
        self.settings = settings
        self.services = services
        self._owned = services is None
        self.served: FastLane | None = None if services is None else serve(services)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        served = self.served
        if served is not None and scope["type"] != "lifespan":
            await served(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            response = errors.problem_json(
                Request(scope), errors.Problem(503, Unavailable("Starting"), "The server is starting")
            )
            await response(scope, receive, send)

    def endpoints(self) -> list[Route]:
        """Every endpoint route, through the surfaces: what a test walks to reach every route."""
        if self.served is None:
            raise RuntimeError("the app has not started")
        return list(endpoints(self.served.app.routes))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """While the server runs: its own services (unless given), the background job worker and the
        MQTT bootstrap listener (when configured)."""
        if not self._owned:
            yield
            return
        built = await build_services(self.settings)
        try:
            self.services, self.served = built, serve(built)
            stop = asyncio.Event()
            worker = asyncio.create_task(built.runner.run_forever(stop)) if self.settings.jobs.in_server else None
            listener = None
            contacts_stop = asyncio.Event()
            contacts = asyncio.create_task(built.last_seen.run_forever(contacts_stop))
            try:
                listener = await start_bootstrap_listener(built)
                yield
            finally:
                if listener is not None:
                    await listener.close()
                if worker is not None:
                    await stop_task(worker, stop)
                await stop_task(contacts, contacts_stop)
                self.services, self.served = None, None
        finally:
            await built.close()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        running: AbstractAsyncContextManager[None] = self.running()
        try:
            await running.__aenter__()
        except BaseException:
            await send({"type": "lifespan.startup.failed", "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        try:
            await running.__aexit__(None, None, None)
        except BaseException:
            await send({"type": "lifespan.shutdown.failed", "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})


def create_app(settings: Settings, services: Services | None = None) -> Admittance:
    """The app. Without `services` its lifespan builds them from `settings` and closes them at exit."""
    return Admittance(settings, services)


def _health(services: Services) -> Endpoint:
    database = services.database

    async def health(_request: Request) -> Response:
        await database.fetch_one("SELECT 1 AS ok")
        return JSONResponse({"status": "UP", "version": __version__})

    return health


async def _index(request: Request) -> Response:
    if "text/html" in (header(request, "accept") or ""):
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
