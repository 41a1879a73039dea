"""The Connectware-compatible surface (/api): users, roles, permissions, sessions, MFA, broker auth,
the client registry, the trusted CA store and database maintenance.

Every endpoint runs for a caller the one permission policy lets in on method and path (checked once,
by the mount), except those that authenticate themselves (login, registering, the broker hooks, the
document) and one's own session, password, tokens and MFA (authentication only).
"""

from __future__ import annotations

from admittance.bootstrap import Services
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
from admittance.http.surface import Surface

PATH_PREFIXES = ("/api",)


def surface(services: Services, auth: BasicAuthenticator) -> Surface:
    settings = services.settings
    guard, max_body = Guard(auth), settings.max_body_bytes
    hooks = broker_routes.BrokerHooks(
        services.broker,
        services.identity,
        settings.broker_hooks.secret,
        settings.broker_hooks.cache_seconds,
        max_body,
    )
    return Surface(
        "connectware",
        PATH_PREFIXES,
        [
            # Sessions first: PUT /api/users/change-password must not be taken for PUT /api/users/{id}.
            *session_routes.routes(
                session_routes.Sessions(services.sessions, auth, max_body),
                session_routes.Mfa(services.mfa, auth, max_body),
                guard.authenticated,
            ),
            *user_routes.routes(user_routes.Users(services.users, max_body)),
            *role_routes.routes(role_routes.Roles(services.roles, max_body)),
            *broker_routes.routes(hooks),
            *certificate_routes.routes(certificate_routes.TrustedCertificates(services.trust_store, max_body)),
            *registry_routes.routes(registry_routes.Registry(services.client_registry, auth, max_body)),
            *maintenance_routes.routes(
                maintenance_routes.Maintenance(services.maintenance, max_body, settings.backups.max_upload_bytes)
            ),
            *openapi.routes(),
        ],
        render,
        access=guard.permitted,
    )


__all__ = ["PATH_PREFIXES", "render", "surface"]
