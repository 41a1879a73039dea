"""Admittance's own API (/admittance/v1): what no vendor surface offers, such as background imports
and the device PKI. Errors are RFC 9457 problem documents. Endpoints run for the caller
authenticated once by the mount, unless their row says otherwise (the public PKI files, renewal)."""

from __future__ import annotations

from admittance.bootstrap import Services
from admittance.http import errors
from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.client_cert import ClientCertificates
from admittance.http.guard import Guard
from admittance.http.links import Links
from admittance.http.native import jobs_routes, nrf_routes, pki_routes
from admittance.http.native.jobs_routes import PREFIX
from admittance.http.surface import Surface


def surface(services: Services, auth: BasicAuthenticator, client_certificates: ClientCertificates) -> Surface:
    settings = services.settings
    links = Links(settings.public_url)
    jobs = jobs_routes.Jobs(
        services.jobs, services.imports, services.bulk, services.clock, links, settings.max_manifest_bytes
    )
    certificates = pki_routes.Certificates(
        services.certificates,
        services.revocation,
        services.trust_store,
        services.identity,
        client_certificates,
        services.clock,
        links,
        settings.max_body_bytes,
    )
    keys = nrf_routes.IdentityKeys(services.identity_keys, settings.max_manifest_bytes)
    return Surface(
        "native",
        [PREFIX],
        [
            *jobs_routes.routes(jobs),
            *pki_routes.routes(certificates, Guard(auth).permitted),
            *nrf_routes.routes(keys),
        ],
        errors.problem_json,
        access=auth.principal,
    )


__all__ = ["PREFIX", "surface"]
