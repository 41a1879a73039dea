"""The console surface: every area's routes table, each area given only the services it uses,
behind the one gate of the signed-in pages, under /console with the console's own error page."""

from __future__ import annotations

import jinja2
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from admittance.bootstrap import Services
from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.console import (
    account,
    certificates,
    claimed,
    dashboard,
    devices,
    imports,
    registrations,
    registry,
    roles,
    signin,
    users,
)
from admittance.http.console.cookies import ConsoleCookies
from admittance.http.console.core import PREFIX, STATIC_DIR, Console, compile_templates
from admittance.http.console.errors import render_problem
from admittance.http.console.page import ConsoleRoute, Gate
from admittance.http.surface import Surface


def surface(services: Services, accounts: BasicAuthenticator) -> Surface:
    """The console under /console: its pages, its static files, and `/console` itself (the dashboard)."""
    return Surface("console", [PREFIX], console_routes(services, accounts, compile_templates()), render_problem)


def console_routes(services: Services, accounts: BasicAuthenticator, templates: jinja2.Environment) -> list[BaseRoute]:
    settings = services.settings
    cookies = ConsoleCookies(
        services.pepper,
        secure=not settings.console.insecure_cookies,
        idle_seconds=int(settings.console.idle_minutes * 60),
    )
    console = Console(templates, cookies, services.clock, idle_minutes=settings.console.idle_minutes)
    gate = Gate(console, services.sessions, areas(services, console, accounts))
    return [
        Route(PREFIX, dashboard.to_dashboard, methods=["GET"]),
        Mount(PREFIX + "/static", app=StaticFiles(directory=STATIC_DIR), name="console-static"),
        *gate.routes,
    ]


def areas(services: Services, console: Console, accounts: BasicAuthenticator) -> list[ConsoleRoute]:
    """Every area's routes table, and the services each area's pages use."""
    sessions, mfa, clock = services.sessions, services.mfa, services.clock
    return [
        *signin.routes(signin.SignInPages(console, sessions, mfa, accounts), signin.SessionPages(sessions, mfa)),
        *account.routes(account.AccountPages(sessions, mfa)),
        *dashboard.routes(dashboard.DashboardPage(services.registrations, services.claiming, services.jobs)),
        *registrations.routes(registrations.RegistrationPages(services.registrations)),
        *imports.routes(imports.ImportPages(services.jobs, services.imports, services.settings.max_manifest_bytes)),
        *devices.routes(
            devices.DevicePages(services.inventory, services.certificates, services.revocation, clock),
            devices.GroupPages(services.inventory),
        ),
        *claimed.routes(
            claimed.ClaimedPages(services.claiming, services.provisioning), claimed.TagPages(services.claiming)
        ),
        *certificates.routes(
            certificates.IssuedPages(services.certificates, services.revocation, clock),
            certificates.TrustedPages(services.trust_store, clock),
        ),
        *registry.routes(registry.RegistryPages(services.client_registry, services.roles)),
        *users.routes(users.UserPages(services.users, services.roles, sessions)),
        *roles.routes(roles.RolePages(services.roles)),
    ]
