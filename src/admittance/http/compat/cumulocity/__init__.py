"""The Cumulocity-compatible surface: device bootstrap, registration requests, and the registry seed."""

from __future__ import annotations

from starlette.routing import BaseRoute

from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.compat.cumulocity import bulk_routes, device_routes, registration_routes
from admittance.http.compat.cumulocity.errors import render
from admittance.http.state import AppState
from admittance.http.surface import Surface

# Every path below these answers in Cumulocity's shape, unknown ones included (/tenant has no routes yet).
PATH_PREFIXES = ("/devicecontrol", "/inventory", "/identity", "/user", "/tenant")


def routes(state: AppState, auth: BasicAuthenticator) -> list[BaseRoute]:
    return [
        *registration_routes.routes(state, auth),
        *bulk_routes.routes(state, auth),
        *device_routes.routes(state, auth),
    ]


def surface(state: AppState, auth: BasicAuthenticator) -> Surface:
    return Surface("cumulocity", PATH_PREFIXES, routes(state, auth), render)


def polling_lane(state: AppState, auth: BasicAuthenticator) -> tuple[str, registration_routes.Handler]:
    """The device polling endpoint, for the app's fast lane."""
    return registration_routes.CREDENTIALS_PATH, registration_routes.device_credentials_handler(state, auth)


__all__ = ["PATH_PREFIXES", "polling_lane", "render", "routes", "surface"]
