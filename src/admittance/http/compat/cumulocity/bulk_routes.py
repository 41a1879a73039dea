"""POST /devicecontrol/bulkNewDeviceRequests: a CSV manifest in, per-row results out (201)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admittance.devices.bulk.engine import ImportReport
from admittance.devices.bulk.rows import RowStatus
from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.compat.cumulocity import media
from admittance.http.state import AppState
from admittance.http.upload import read_upload

PATH = "/devicecontrol/bulkNewDeviceRequests"
MEDIA_TYPE = "application/vnd.com.nsn.cumulocity.bulknewdevicerequest+json;charset=UTF-8;ver=0.9"


def bulk_result(report: ImportReport) -> dict[str, Any]:
    """Cumulocity's BulkNewDeviceRequest. `line` names the line and shows it with secrets emptied."""
    updated = [o for o in report.outcomes if o.status is RowStatus.CREDENTIAL_UPDATED]
    failed = [o for o in report.outcomes if o.status is RowStatus.FAILED]
    return {
        "numberOfAll": report.total,
        "numberOfCreated": report.created,
        "numberOfFailed": report.failed,
        "numberOfSuccessful": report.successful,
        "credentialUpdatedList": [
            {"bulkNewDeviceStatus": RowStatus.CREDENTIAL_UPDATED.value, "deviceId": o.device_id} for o in updated
        ],
        "failedCreationList": [
            {
                "bulkNewDeviceStatus": RowStatus.FAILED.value,
                **({"deviceId": o.device_id} if o.device_id else {}),
                "failureReason": o.reason,
                "line": f"Line {o.line}: {o.raw}" if o.raw else f"Line {o.line}",
            }
            for o in failed
        ],
    }


def routes(state: AppState, auth: BasicAuthenticator) -> list[Route]:
    async def bulk(request: Request) -> Response:
        principal = await auth.principal(request)
        importer = state.services.bulk
        importer.authorize(principal)  # before reading a body of up to tens of MB
        data = await read_upload(request, state.services.settings.max_manifest_bytes)
        prepared = await asyncio.to_thread(importer.prepare, principal, data)
        report = await importer.run(principal, prepared, source="POST " + PATH)
        await state.services.jobs.after_import(report, principal.username)
        # Always with a body, Accept or not: the per-row results exist nowhere else.
        return media.json_response(bulk_result(report), 201, MEDIA_TYPE)

    return [Route(PATH, bulk, methods=["POST"])]
