"""The gate of the console's pages: a signed-in, not idle, MFA-enrolled user, a valid CSRF token on
every POST, the permission of the API request a page stands for, and readable errors; and `Page`,
the signed-in request as a page handler sees it (its form, its query, rendering and redirects)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Match, Route

from admittance.http.basic_auth import client_address
from admittance.http.console.cookies import ConsoleCookies, SessionCookie
from admittance.http.console.core import (
    ENROLL,
    NAV,
    PREFIX,
    Console,
    ConsoleError,
    Flash,
    Need,
    harden,
    local_path,
    message_of,
)
from admittance.http.errors import status_of
from admittance.http.params import whole_number
from admittance.identity.sessions import SessionService, TokenSession
from admittance.kernel.errors import AdmittanceError, PermissionDenied, RateLimited, Unauthenticated
from admittance.kernel.principal import Principal

log = logging.getLogger("admittance.console")

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

Handler = Callable[["Page"], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class PageRoute:
    """A signed-in page or form: its method and console URL, its handler, the API request it stands
    for (checked before the handler runs), whether it is a live refresh (`background`: not activity,
    so a screen left open still times out) or part of the forced MFA enrollment."""

    method: str
    path: str
    handler: Handler
    needs: Need | None = None
    background: bool = False
    enrollment: bool = False


@dataclass(frozen=True, slots=True)
class OpenRoute:
    """A page for a visitor who is not signed in (the sign-in forms check their own CSRF token)."""

    method: str
    path: str
    endpoint: Endpoint


ConsoleRoute = PageRoute | OpenRoute


class Gate:
    """Turns the console's routes table into the mount's routes: every `PageRoute` behind the one
    gate (the session, checked once here for every page), every `OpenRoute` as it is."""

    def __init__(self, console: Console, sessions: SessionService, table: Sequence[ConsoleRoute]) -> None:
        self.console = console
        self._sessions = sessions
        self.routes = [self._route(entry) for entry in table]
        self._pages = [route for route in self.routes if "GET" in (route.methods or ())]

    def page_of(self, path: str) -> str:
        """The console page an action belongs to, for when the browser sent no Referer: the action's
        URL when it is also a page, else the nearest page above it (".../{id}/rotate-password" ->
        ".../{id}"), never a POST-only URL (that would answer 405)."""
        while path.startswith(PREFIX + "/"):
            scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
            if any(route.matches(scope)[0] is Match.FULL for route in self._pages):
                return path
            path = path.rsplit("/", 1)[0]
        return PREFIX + "/"

    def _route(self, entry: ConsoleRoute) -> Route:
        if isinstance(entry, OpenRoute):
            return Route(entry.path, entry.endpoint, methods=[entry.method])

        async def endpoint(request: Request) -> Response:
            return await self.serve(request, entry)

        endpoint.__name__ = entry.handler.__name__
        return Route(entry.path, endpoint, methods=[entry.method])

    async def serve(self, request: Request, entry: PageRoute) -> Response:
        now = self.console.now()
        signed_in = await self._session(request, now)
        if isinstance(signed_in, Response):
            return signed_in
        cookie, session = signed_in
        principal = session.principal
        if principal.mfa_enrollment_pending and not entry.enrollment:
            return self.console.redirect(ENROLL)
        current = Page(self, request, principal, session.token_id)
        response = await current.answer(entry)
        if not entry.background and not current.ended:
            lifetime = max(1, int((session.expires_at.timestamp()) - now))
            self.console.cookies.set_session(response, cookie.token, now, lifetime)
        return harden(response)

    async def _session(self, request: Request, now: int) -> tuple[SessionCookie, TokenSession] | Response:
        """The session cookie and its session, or where the visitor goes instead (the sign-in, with why)."""
        cookies = self.console.cookies
        cookie = cookies.session(request)
        if cookie is None:
            return self.console.to_sign_in(request)
        if cookies.idle(cookie, now):
            return self.console.to_sign_in(request, "You were signed out after a time without activity.")
        try:
            return cookie, await self._sessions.session_for_token(cookie.token, client_address(request))
        except (Unauthenticated, RateLimited):
            return self.console.to_sign_in(request, "Your session has ended. Sign in again.")


@dataclass
class Page:
    """A signed-in request, as a page handler sees it."""

    gate: Gate
    request: Request
    principal: Principal
    session_id: str
    form: FormData | None = None
    ended: bool = False  # the handler ended the session (sign-out): the cookie is not renewed

    @property
    def console(self) -> Console:
        return self.gate.console

    @property
    def source(self) -> str:
        return client_address(self.request)

    @property
    def csrf_token(self) -> str:
        return self.console.cookies.csrf_token(self.session_id)

    async def answer(self, entry: PageRoute) -> Response:
        """The handler's response, after the CSRF and permission checks; errors as readable pages."""
        try:
            if self.request.method == "POST":
                self.form = await _checked_form(self.request, self.csrf_token)
            if entry.needs is not None:
                self.require(*entry.needs)
            return await entry.handler(self)
        except ConsoleError as exc:
            return self.render("error.html", exc.status, message=exc.message, code=exc.status)
        except AdmittanceError as exc:
            if self.request.method == "POST" and not isinstance(exc, PermissionDenied):
                return self.back(("error", message_of(exc)))
            status = status_of(exc)
            return self.render("error.html", status, message=message_of(exc), code=status)
        except Exception:
            request_id = secrets.token_hex(8)
            log.exception(
                "console page %s %s failed (request id %s)", self.request.method, self.request.url.path, request_id
            )
            message = f"Something went wrong on our side. The administrator can find it by the request id {request_id}."
            return self.render("error.html", 500, message=message, code=500)
        finally:
            if self.form is not None:
                await self.form.close()

    def end_session(self, response: Response) -> None:
        self.console.cookies.clear_session(response)
        self.ended = True

    def can(self, method: str, path: str) -> bool:
        return self.principal.permits_request(method, path)

    def require(self, method: str, path: str) -> None:
        if not self.can(method, path):
            raise PermissionDenied("You do not have the permission for this.")

    # -- reading the request ----------------------------------------------------------------------

    def path_param(self, name: str) -> str:
        return str(self.request.path_params[name])

    def field(self, name: str, default: str = "") -> str:
        """A text field of the posted form, stripped ('' when absent)."""
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    def secret(self, name: str, most: int | None = None) -> str:
        """A password field as typed (not stripped: blanks may belong to it); '' when over `most`."""
        value = self.form.get(name) if self.form is not None else None
        if not isinstance(value, str) or (most is not None and len(value) > most):
            return ""
        return value

    def upload(self, name: str) -> UploadFile | None:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, UploadFile) else None

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default).strip()

    def page_number(self, most: int = 100_000) -> int:
        """The `page` query parameter (1 when absent); anything but a whole number from 1 is a 400."""
        number = whole_number(self.query("page") or "1", 1, most)
        if number is None:
            raise ConsoleError(400, "The page number must be a whole number from 1.")
        return number

    def page_number_or_first(self, most: int = 100_000) -> int:
        """The `page` query parameter, for lists where an odd or out-of-range one shows the first page."""
        return whole_number(self.query("page"), 1, most) or 1

    # -- answering --------------------------------------------------------------------------------

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        nav = tuple(item for item in NAV if item.needs is None or self.can(*item.needs))
        return self.console.render(
            self.request, template, status, principal=self.principal, csrf_token=self.csrf_token, nav=nav, **context
        )

    def redirect(self, url: str, flash: str | Flash | None = None) -> RedirectResponse:
        """303 to a console URL, with an optional message for the next page ('success' unless a kind is given)."""
        message = ("success", flash) if isinstance(flash, str) else flash
        return self.console.redirect(local_path(url), message)

    def back(self, flash: str | Flash | None = None, default: str | None = None) -> RedirectResponse:
        """303 to the console page the form was on (its Referer, when it is one of ours)."""
        return self.redirect(_referer(self.request) or default or self.gate.page_of(self.request.url.path), flash)


def _referer(request: Request) -> str | None:
    referer = request.headers.get("referer")
    if not referer:
        return None
    parts = urlsplit(referer)
    if parts.netloc and parts.netloc != request.headers.get("host"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def foreign_origin(request: Request) -> bool:
    """The browser says the request comes from another site: an Origin that is not ours, or "null"
    (sandboxed frames, some redirects). No Origin at all is left to the CSRF token."""
    origin = request.headers.get("origin")
    return origin is not None and (origin == "null" or urlsplit(origin).netloc != request.headers.get("host"))


async def _checked_form(request: Request, expected: str) -> FormData:
    """The posted form, after the CSRF checks: the Origin (when the browser sends one) is ours, and
    the form field or header carries this session's token."""
    if foreign_origin(request):
        raise ConsoleError(403, "This form was sent from another site and was refused.")
    try:
        form = await request.form()
    except HTTPException as exc:  # a malformed multipart body, or a field over Starlette's part limit
        raise ConsoleError(400, f"The form could not be read: {exc.detail}") from None
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if not ConsoleCookies.same(presented, expected):
        await form.close()
        raise ConsoleError(
            403, "The form has expired or did not come from this console. Reload the page and try again."
        )
    return form
