"""The console's shared edge: its paths and security headers, the navigation, and `Console`, which
renders every page and redirect (with the flash message) and sends a visitor to the sign-in.

A console page calls the same services as the HTTP API with the signed-in user's principal, and is
gated by the same access policy: each page names the API request it stands for (`needs`), so a user
sees and can do in the console exactly what their roles allow on the API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from admittance.http.console.cookies import ConsoleCookies
from admittance.kernel.clock import Clock
from admittance.kernel.errors import AdmittanceError, RateLimited, Unauthenticated

PREFIX = "/console"
SIGN_IN = PREFIX + "/sign-in"
ENROLL = PREFIX + "/account/mfa/enroll"
BACKGROUND_HEADER = "x-console-background"  # a live refresh: does not count as activity
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
Flash = tuple[str, str]  # (kind, text) of a message for the next page: success, info, warning, error


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


def compile_templates() -> jinja2.Environment:
    """The console's templates, compiled once per app: packaged files, so no stat of every template
    on every render (live refreshes included)."""
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    templates.globals["PREFIX"] = PREFIX
    templates.filters["urlquote"] = lambda value: quote(str(value), safe="")
    return templates


class Console:
    """Renders the console's pages and redirects, signed-in or not: the templates, the cookies (the
    flash message is taken by the page that shows it), the idle timeout the pages announce, and the
    server's clock (the time of the last activity in the session cookie)."""

    def __init__(
        self, templates: jinja2.Environment, cookies: ConsoleCookies, clock: Clock, *, idle_minutes: float
    ) -> None:
        self.templates = templates
        self.cookies = cookies
        self.clock = clock
        self.idle_minutes = idle_minutes

    def now(self) -> int:
        """Unix seconds, by the server's clock."""
        return int(self.clock.now().timestamp())

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
        context["idle_minutes"] = self.idle_minutes
        response.body = response.render(self.templates.get_template(template).render(**context))
        response.headers["content-length"] = str(len(response.body))
        return harden(response)  # type: ignore[return-value]

    def redirect(self, url: str, flash: Flash | None = None) -> RedirectResponse:
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
