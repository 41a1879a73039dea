"""POST /devicecontrol/bulkNewDeviceRequests: a CSV manifest in, per-row results out (201)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from admittance.devices.bulk.engine import BulkImporter, ImportReport
from admittance.devices.bulk.imports import ImportService
from admittance.devices.bulk.rows import RowStatus
from admittance.http.compat.cumulocity import media
from admittance.http.surface import Row, guarded
from admittance.http.upload import read_upload
from admittance.kernel.principal import Principal

PATH = "/devicecontrol/bulkNewDeviceRequests"
MEDIA_TYPE = "application/vnd.com.nsn.cumulocity.bulknewdevicerequest+json;charset=UTF-8;ver=0.9"


def routes(bulk: BulkNewDeviceRequests) -> list[Row]:
    return [guarded("POST", PATH, bulk.bulk)]


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


class BulkNewDeviceRequests:
    def __init__(self, importer: BulkImporter, imports: ImportService, max_manifest_bytes: int) -> None:
        self._importer = importer
        self._imports = imports
        self._max_manifest_bytes = max_manifest_bytes

    async def bulk(self, request: Request, principal: Principal) -> Response:
        self._importer.authorize(principal)  # before reading a body of up to tens of MB
        data = await read_upload(request, self._max_manifest_bytes)
        prepared = await asyncio.to_thread(self._importer.prepare, principal, data)
        report = await self._importer.run(principal, prepared, source="POST " + PATH)
        await self._imports.after_import(report, principal.username)
        # Always with a body, Accept or not: the per-row results exist nowhere else.
        return media.json_response(bulk_result(report), 201, MEDIA_TYPE)
