"""The nRF Cloud-compatible surface (/v1): claimed devices, tags, bulk operations, provisioning.

Every endpoint runs for a caller the one permission policy lets in on method and path (checked
once, by the mount), except the device protocol (the device's JWT) and the bulk operations'
data and error summary (the job's access token in the URL)."""

from __future__ import annotations

from admittance.bootstrap import Services
from admittance.claiming.model import TagKind
from admittance.http.compat.nrfcloud import bulk_routes, claiming_routes, device_routes, provisioning_routes
from admittance.http.compat.nrfcloud.errors import render
from admittance.http.guard import Guard
from admittance.http.links import Links
from admittance.http.surface import Surface

PATH_PREFIXES = ("/v1",)


def surface(services: Services, guard: Guard) -> Surface:
    claiming = services.claiming
    return Surface(
        "nrfcloud",
        PATH_PREFIXES,
        [
            *bulk_routes.routes(bulk_routes.BulkOps(services.nrf_bulk, Links(services.settings.public_url))),
            *claiming_routes.routes(
                claiming_routes.ClaimedDevices(claiming),
                claiming_routes.Tags(claiming, TagKind.CLAIMED),
                claiming_routes.Tags(claiming, TagKind.PROVISIONING),
            ),
            *provisioning_routes.routes(
                provisioning_routes.Provisioning(services.provisioning, services.settings.max_body_bytes)
            ),
            *device_routes.routes(device_routes.DeviceProtocol(services.provisioning)),
        ],
        render,
        access=guard.permitted,
    )


__all__ = ["PATH_PREFIXES", "render", "surface"]
