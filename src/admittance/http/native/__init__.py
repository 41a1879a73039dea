"""Admittance's own API (/admittance/v1): what no vendor surface offers, such as background imports
and the device PKI."""

from starlette.routing import Route

from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.native import jobs_routes, nrf_routes, pki_routes
from admittance.http.native.jobs_routes import PREFIX
from admittance.http.state import AppState


def routes(state: AppState, auth: BasicAuthenticator) -> list[Route]:
    return [*jobs_routes.routes(state, auth), *pki_routes.routes(state, auth), *nrf_routes.routes(state, auth)]


__all__ = ["PREFIX", "routes"]
