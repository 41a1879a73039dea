"""The Connectware-compatible surface (/api): users, roles, permissions, sessions, MFA, broker auth."""

from __future__ import annotations

from starlette.routing import BaseRoute

from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.compat.connectware import (
    broker_routes,
    certificate_routes,
    maintenance_routes,
    openapi,
    registry_routes,
    role_routes,
    session_routes,
    user_routes,
)
from admittance.http.compat.connectware.errors import render
from admittance.http.guard import Guard
from admittance.http.state import AppState

PATH_PREFIXES = ("/api",)


def routes(state: AppState, auth: BasicAuthenticator) -> list[BaseRoute]:
    guard = Guard(auth)
    # Sessions first: PUT /api/users/change-password must not be taken for PUT /api/users/{id}.
    return [
        *session_routes.routes(state, guard),
        *user_routes.routes(state, guard),
        *role_routes.routes(state, guard),
        *broker_routes.routes(state),
        *certificate_routes.routes(state, guard),
        *registry_routes.routes(state, guard),
        *maintenance_routes.routes(state, guard),
        *openapi.routes(),
    ]


__all__ = ["PATH_PREFIXES", "render", "routes"]
