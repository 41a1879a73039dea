"""The Cumulocity-compatible surface: device bootstrap, registration requests, and the registry seed.

Every endpoint but the device poll runs for the caller authenticated once by the mount (Basic,
a token or a client certificate); the services then apply Cumulocity's role and ownership rules.
"""

from __future__ import annotations

from admittance.bootstrap import Services
from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.compat.cumulocity import bulk_routes, device_routes, inventory_routes, registration_routes
from admittance.http.compat.cumulocity.errors import render
from admittance.http.links import Links
from admittance.http.surface import Surface

# Every path below these answers in Cumulocity's shape, unknown ones included (/tenant has no routes yet).
PATH_PREFIXES = ("/devicecontrol", "/inventory", "/identity", "/user", "/tenant")
CREDENTIALS_PATH = registration_routes.CREDENTIALS_PATH  # the device polling path: the app's fast lane


def surface(services: Services, auth: BasicAuthenticator) -> Surface:
    settings = services.settings
    links, max_body = Links(settings.public_url), settings.max_body_bytes
    credentials = registration_routes.DeviceCredentials(
        services.registrations, services.identity, auth, links, max_body
    )
    return Surface(
        "cumulocity",
        PATH_PREFIXES,
        [
            *registration_routes.routes(
                registration_routes.NewDeviceRequests(services.registrations, links, max_body), credentials
            ),
            *bulk_routes.routes(
                bulk_routes.BulkNewDeviceRequests(services.bulk, services.imports, settings.max_manifest_bytes)
            ),
            *device_routes.routes(device_routes.Identities(services.inventory, links, max_body)),
            *inventory_routes.routes(inventory_routes.ManagedObjects(services.inventory, links, max_body)),
        ],
        render,
        access=auth.principal,
    )


__all__ = ["CREDENTIALS_PATH", "PATH_PREFIXES", "render", "surface"]
