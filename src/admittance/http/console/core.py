"""The console's edge machinery: templates, the signed-in page wrapper (session, idle timeout, MFA
enrollment, CSRF, permissions, readable errors) and the navigation.

A console page calls the same services as the HTTP API with the signed-in user's principal, and is
gated by the same access policy: each page names the API request it stands for (`needs`), so a user
sees and can do in the console exactly what their roles allow on the API."""

from __future__ import annotations

import html
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Match

from admittance.bootstrap import Services
from admittance.http.basic_auth import BasicAuthenticator, client_address
from admittance.http.console.cookies import ConsoleCookies
from admittance.http.errors import Problem, status_of
from admittance.http.params import whole_number
from admittance.http.state import AppState
from admittance.http.surface import surface_of
from admittance.kernel.errors import AdmittanceError, PermissionDenied, RateLimited, Unauthenticated
from admittance.kernel.principal import Principal

log = logging.getLogger("admittance.console")

PREFIX = "/console"
SIGN_IN = PREFIX + "/sign-in"
ENROLL = PREFIX + "/account/mfa/enroll"
BACKGROUND_HEADER = "x-console-background"  # a live refresh: does not count as activity
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

Need = tuple[str, str]  # the API request (method, path) a console page or action stands for


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    href: str
    needs: Need | None  # None: every signed-in user


# The one navigation. A section is shown to a user whose permissions allow its API request.
NAV: tuple[NavItem, ...] = (
    NavItem("Dashboard", PREFIX + "/", None),
    NavItem("Registrations", PREFIX + "/registrations", ("GET", "/devicecontrol/newDeviceRequests")),
    NavItem("Bulk import", PREFIX + "/imports", ("POST", "/devicecontrol/bulkNewDeviceRequests")),
    NavItem("Devices", PREFIX + "/devices", ("GET", "/inventory/managedObjects")),
    NavItem("Claimed devices", PREFIX + "/claimed", ("GET", "/v1/claimed-devices")),
    NavItem("Certificates", PREFIX + "/certificates", ("GET", "/api/certificates")),
    NavItem("Client registry", PREFIX + "/client-registry", ("GET", "/api/client-registry")),
    NavItem("Users", PREFIX + "/users", ("GET", "/api/users")),
    NavItem("Roles", PREFIX + "/roles", ("GET", "/api/roles")),
)


class ConsoleError(Exception):
    """A page-level refusal with a readable message and a status (not a domain error)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def harden(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def local_path(target: str | None, default: str = PREFIX + "/") -> str:
    """A redirect target only inside the console (never another site: no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX) or "\\" in target:
        return default
    return parts.path + (f"?{parts.query}" if parts.query else "")


def message_of(error: AdmittanceError) -> str:
    if isinstance(error, RateLimited):
        return "Too many attempts. Wait a little and try again."
    if isinstance(error, Unauthenticated):
        return "The sign-in failed: check the user name, the password and the code."
    return error.message


class Console:
    def __init__(self, state: AppState, auth: BasicAuthenticator) -> None:
        self.state = state
        self.auth = auth
        self._cookies: ConsoleCookies | None = None
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # packaged files: no stat of every template on every render
        )
        self.templates.globals["PREFIX"] = PREFIX
        self.templates.filters["urlquote"] = lambda value: quote(str(value), safe="")

    @property
    def services(self) -> Services:
        return self.state.services

    @property
    def cookies(self) -> ConsoleCookies:
        if self._cookies is None:
            settings = self.services.settings
            self._cookies = ConsoleCookies(
                self.services.pepper,
                secure=not settings.console_insecure_cookies,
                idle_seconds=int(settings.console_idle_minutes * 60),
            )
        return self._cookies

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        response = HTMLResponse("", status_code=status)
        context.setdefault("principal", None)
        context.setdefault("csrf_token", "")
        context.setdefault("nav", ())
        context.setdefault("title", "Admittance")
        # A live refresh must not consume the message meant for the next page the user sees.
        background = bool(request.headers.get(BACKGROUND_HEADER))
        context["flash"] = None if background else self.cookies.take_flash(request, response)
        context["request_path"] = request.url.path
        context["idle_minutes"] = self.services.settings.console_idle_minutes
        response.body = response.render(self.templates.get_template(template).render(**context))
        response.headers["content-length"] = str(len(response.body))
        return harden(response)  # type: ignore[return-value]

    def redirect(self, url: str, flash: tuple[str, str] | None = None) -> RedirectResponse:
        response = RedirectResponse(url, status_code=303)
        if flash is not None:
            self.cookies.flash(response, *flash)
        harden(response)
        return response

    def to_sign_in(self, request: Request, message: str | None = None) -> Response:
        if request.headers.get(BACKGROUND_HEADER):
            response: Response = harden(Response(status_code=401, headers={"x-console-signed-out": "1"}))
        else:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            url = SIGN_IN if request.method != "GET" or target == PREFIX + "/" else f"{SIGN_IN}?next={quote(target)}"
            response = self.redirect(url, ("info", message) if message else None)
        self.cookies.clear_session(response)
        return response


@dataclass
class Page:
    """A signed-in request, as a page handler sees it."""

    console: Console
    request: Request
    principal: Principal
    session_id: str
    form: FormData | None
    ended: bool = False  # the handler ended the session (sign-out): the cookie is not renewed

    def end_session(self, response: Response) -> None:
        self.console.cookies.clear_session(response)
        self.ended = True

    @property
    def services(self) -> Services:
        return self.console.services

    @property
    def source(self) -> str:
        return client_address(self.request)

    @property
    def csrf_token(self) -> str:
        return self.console.cookies.csrf_token(self.session_id)

    def can(self, method: str, path: str) -> bool:
        return self.principal.permits_request(method, path)

    def require(self, method: str, path: str) -> None:
        if not self.can(method, path):
            raise PermissionDenied("You do not have the permission for this.")

    def field(self, name: str, default: str = "") -> str:
        """A text field of the posted form, stripped ('' when absent)."""
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

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

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        nav = tuple(item for item in NAV if item.needs is None or self.can(*item.needs))
        return self.console.render(
            self.request, template, status, principal=self.principal, csrf_token=self.csrf_token, nav=nav, **context
        )

    def redirect(self, url: str, flash: str | tuple[str, str] | None = None) -> RedirectResponse:
        """303 to a console URL, with an optional message for the next page ('success' unless a kind is given)."""
        message = ("success", flash) if isinstance(flash, str) else flash
        return self.console.redirect(local_path(url), message)

    def back(self, flash: str | tuple[str, str] | None = None, default: str | None = None) -> RedirectResponse:
        """303 to the console page the form was on (its Referer, when it is one of ours)."""
        return self.redirect(_referer(self.request) or default or _page_of(self.request), flash)


def _page_of(request: Request) -> str:
    """The console page an action belongs to, for when the browser sent no Referer: the action's
    URL when it is also a page, else the nearest page above it (".../{id}/rotate-password" ->
    ".../{id}"), never a POST-only URL (that would answer 405)."""
    path = request.url.path
    while path.startswith(PREFIX + "/"):
        scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
        if any(route.matches(scope)[0] is Match.FULL for route in surface_of(request).routes):
            return path
        path = path.rsplit("/", 1)[0]
    return PREFIX + "/"


def _referer(request: Request) -> str | None:
    referer = request.headers.get("referer")
    if not referer:
        return None
    parts = urlsplit(referer)
    if parts.netloc and parts.netloc != request.headers.get("host"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


Handler = Callable[[Page], Awaitable[Response]]


def page(
    console: Console, *, needs: Need | None = None, background: bool = False, enrollment: bool = False
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wraps a page or form handler: a signed-in, not idle, MFA-enrolled (unless `enrollment`) user,
    a valid CSRF token on every POST, the permission of `needs`, and readable errors. `background`
    pages (live refreshes) do not count as activity, so a screen left open still times out."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            cookies = console.cookies
            cookie = cookies.session(request)
            now = int(console.services.clock.now().timestamp())
            if cookie is None:
                return console.to_sign_in(request)
            if cookies.idle(cookie, now):
                return console.to_sign_in(request, "You were signed out after a time without activity.")
            try:
                session = await console.services.sessions.session_for_token(cookie.token, client_address(request))
            except (Unauthenticated, RateLimited):
                return console.to_sign_in(request, "Your session has ended. Sign in again.")
            principal = session.principal
            if principal.mfa_enrollment_pending and not enrollment:
                return console.redirect(ENROLL)
            form = None
            current = Page(console, request, principal, session.token_id, None)
            try:
                if request.method == "POST":
                    form = await _checked_form(request, current.csrf_token)
                    current.form = form
                if needs is not None:
                    current.require(*needs)
                response = await handler(current)
            except ConsoleError as exc:
                response = current.render("error.html", exc.status, message=exc.message, code=exc.status)
            except AdmittanceError as exc:
                if request.method == "POST" and not isinstance(exc, PermissionDenied):
                    response = current.back(("error", message_of(exc)))
                else:
                    status = status_of(exc)
                    response = current.render("error.html", status, message=message_of(exc), code=status)
            except Exception:
                request_id = secrets.token_hex(8)
                log.exception("console page %s %s failed (request id %s)", request.method, request.url.path, request_id)
                message = (
                    f"Something went wrong on our side. The administrator can find it by the request id {request_id}."
                )
                response = current.render("error.html", 500, message=message, code=500)
            finally:
                if form is not None:
                    await form.close()
            if not background and not current.ended:
                lifetime = max(1, int((session.expires_at.timestamp()) - now))
                cookies.set_session(response, cookie.token, now, lifetime)
            return harden(response)

        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap


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


_PLAIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title} · Admittance</title>
<link rel="stylesheet" href="/console/static/console.css"></head><body><main id="main"><h1>{title}</h1>
<div class="flash flash-error" role="alert">{message}</div><p><a href="/console/">Back to the console</a></p>
</main></body></html>"""


def render_problem(_request: Request, problem: Problem) -> Response:
    """A problem outside any page handler (unknown console path, wrong method, a crash): a readable
    page that needs no session, never a stack trace."""
    titles = {404: "Not found", 405: "Not allowed here"}
    title = titles.get(problem.status, "Something went wrong" if problem.status >= 500 else "That did not work")
    message = "There is no such page in the console." if problem.status == 404 else problem.message
    if problem.request_id:
        message = f"Something went wrong on our side (request id {problem.request_id})."
    body = _PLAIN_PAGE.format(title=html.escape(title), message=html.escape(message))
    return harden(HTMLResponse(body, status_code=problem.status))
