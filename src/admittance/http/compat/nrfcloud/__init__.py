"""The nRF Cloud-compatible surface (/v1): claimed devices, tags, bulk operations, provisioning."""

from __future__ import annotations

from starlette.routing import BaseRoute

from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.compat.nrfcloud import bulk_routes, claiming_routes, device_routes, provisioning_routes
from admittance.http.compat.nrfcloud.errors import render
from admittance.http.guard import Guard
from admittance.http.state import AppState

PATH_PREFIXES = ("/v1",)


def routes(state: AppState, auth: BasicAuthenticator) -> list[BaseRoute]:
    guard = Guard(auth)
    # Other route modules add one line each here.
    return [
        *bulk_routes.routes(state, guard),
        *claiming_routes.routes(state, guard),
        *provisioning_routes.routes(state, guard),
        *device_routes.routes(state, guard),
    ]


__all__ = ["PATH_PREFIXES", "render", "routes"]
