"""The admin web console (/console): server-rendered pages over the same services as the APIs.

Each area is one module with a `routes(console)` function; `core.py` holds the page wrapper
(session, idle timeout, MFA enrollment, CSRF, permissions, readable errors), `cookies.py` the
signed cookies, `signin.py` signing in and out. Templates are Jinja2 (autoescaped), the CSS and the
small script are our own files under static/ (no build step, no third-party JavaScript)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.console import (
    access,
    account,
    certificates,
    claimed,
    dashboard,
    devices,
    imports,
    registrations,
    signin,
)
from admittance.http.console.core import PREFIX, STATIC_DIR, Console, render_problem
from admittance.http.state import AppState

__all__ = ["PREFIX", "render_problem", "routes"]


def routes(state: AppState, auth: BasicAuthenticator) -> list[BaseRoute]:
    console = Console(state, auth)
    return [
        Mount(PREFIX + "/static", app=StaticFiles(directory=STATIC_DIR), name="console-static"),
        *signin.routes(console),
        *account.routes(console),
        *dashboard.routes(console),
        *registrations.routes(console),
        *imports.routes(console),
        *devices.routes(console),
        *claimed.routes(console),
        *certificates.routes(console),
        *access.routes(console),
    ]
