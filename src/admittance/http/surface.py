"""A surface: one front door (a vendor's dialect, our own API, the console) mounted under its path
prefixes, with its routes table, its error renderer and the access rule its endpoints share.

Routing picks the renderer: the mount installs its own exception handlers, so whatever goes wrong
below it (a domain error, an unknown path or a wrong method under its prefixes, a crash) answers in
the surface's shape. Handlers are looked up by the exception's MRO, as Starlette looks them up.
Authentication that is the same for a whole surface is checked once, by the mount, before the
endpoint runs: a `guarded` row's endpoint receives the principal; a `public` row's endpoint
authenticates itself (a device JWT, a one-time password, a hook secret) or needs nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from starlette._utils import get_route_path
from starlette.datastructures import URLPath
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from admittance.http.errors import Renderer, Rendering
from admittance.kernel.principal import Principal

Endpoint = Callable[[Request], Awaitable[Response]]
GuardedEndpoint = Callable[[Request, Principal], Awaitable[Response]]
Access = Callable[[Request], Awaitable[Principal]]  # authenticates (and authorizes) or raises
_SCOPE_KEY = "admittance.surface"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a routes table: a method and a path (the full path, as clients write it) and the
    endpoint, guarded by the mount's access rule (or the row's own) or public."""

    method: str
    path: str
    endpoint: Endpoint | None = None
    guarded: GuardedEndpoint | None = None
    access: Access | None = None

    def route(self, default: Access | None) -> Route:
        if self.endpoint is not None:
            return Route(self.path, self.endpoint, methods=[self.method])
        assert self.guarded is not None
        access = self.access or default
        if access is None:
            raise ValueError(f"{self.method} {self.path} is guarded, but its surface has no access rule")
        return Route(self.path, _behind(access, self.guarded), methods=[self.method], name=self.guarded.__name__)


def public(method: str, path: str, endpoint: Endpoint) -> Row:
    """A row whose endpoint authenticates by itself, or serves anyone."""
    return Row(method, path, endpoint=endpoint)


def guarded(method: str, path: str, endpoint: GuardedEndpoint, access: Access | None = None) -> Row:
    """A row whose endpoint runs for the principal that `access` (default: the surface's) lets in."""
    return Row(method, path, guarded=endpoint, access=access)


def _behind(access: Access, endpoint: GuardedEndpoint) -> Endpoint:
    async def checked(request: Request) -> Response:
        return await endpoint(request, await access(request))

    return checked


class Surface(BaseRoute):
    """Routes every request whose path is one of `prefixes` or lies below one (`/api`, `/api/...`)
    to the surface's own router, with the surface's exception handlers around it."""

    def __init__(
        self,
        name: str,
        prefixes: Sequence[str],
        rows: Sequence[Row | BaseRoute],
        render: Renderer,
        access: Access | None = None,
    ) -> None:
        self.name = name
        self.prefixes = tuple(prefix.rstrip("/") for prefix in prefixes)
        self.rendering = Rendering(render)
        self.router = Router([row.route(access) if isinstance(row, Row) else row for row in rows])
        self._app = ExceptionMiddleware(self.router, handlers=self.rendering.handlers())

    def endpoint(self, method: str, path: str) -> Endpoint:
        """The endpoint of the public row for `method` on `path` (the app's fast lane serves it
        without the router, so it must need nothing the router provides)."""
        for route in self.router.routes:
            if isinstance(route, Route) and route.path == path and method in (route.methods or ()):
                found: Endpoint = route.endpoint
                return found
        raise LookupError(f"{self.name} has no {method} {path}")

    @property
    def routes(self) -> list[BaseRoute]:
        return self.router.routes

    def owns(self, path: str) -> bool:
        """The path is a prefix, or lies below one (`/api`, `/api/users`; not `/apis`)."""
        for prefix in self.prefixes:
            if path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in ("", "/"):
                return True
        return False

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and self.owns(get_route_path(scope)):
            return Match.FULL, {}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_SCOPE_KEY] = self
        await self._app(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        return self.router.url_path_for(name, **path_params)

    def __repr__(self) -> str:
        return f"Surface({self.name!r}, {self.prefixes!r})"


def surface_of(request: Request) -> Surface:
    """The surface that routed this request."""
    found = request.scope[_SCOPE_KEY]
    assert isinstance(found, Surface)
    return found


def endpoints(routes: Sequence[BaseRoute]) -> Iterator[Route]:
    """Every endpoint route below `routes`, through surfaces and mounts: what a test walks to reach
    every route of the app."""
    for route in routes:
        if isinstance(route, Surface | Mount):
            yield from endpoints(route.routes)
        elif isinstance(route, Route):
            yield route
