"""POST /v1/claimed-devices/bulk and GET /v1/bulk-ops-requests/{id}, with the uploaded file and
the error summary at URLs that carry the job's random access token instead of credentials
(docs/compat/nrfcloud/claiming.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from admittance.claiming.bulk import NrfBulkClaims
from admittance.http.body import read_body
from admittance.http.compat.nrfcloud.claiming_routes import MAX_BODY
from admittance.http.compat.nrfcloud.representations import BULK_OPS_PREFIX, bulk_ops_json
from admittance.http.links import Links
from admittance.http.params import path_text
from admittance.http.responses import json_response
from admittance.http.surface import Row, guarded, public
from admittance.kernel.errors import MalformedInput, NotFound
from admittance.kernel.principal import Principal


def routes(bulk: BulkOps) -> list[Row]:
    """The uploaded data and the error summary are public: their URLs carry the job's access token."""
    return [
        guarded("POST", "/v1/claimed-devices/bulk", bulk.submit),
        guarded("POST", "/v1/identities/claimed-devices/bulk", bulk.submit),
        guarded("GET", BULK_OPS_PREFIX + "/{job_id}", bulk.status),
        public("GET", BULK_OPS_PREFIX + "/{job_id}/errors/{access}", bulk.errors),
        public("GET", BULK_OPS_PREFIX + "/{job_id}/data/{access}", bulk.data),
    ]


class BulkOps:
    def __init__(self, bulk: NrfBulkClaims, links: Links) -> None:
        self._bulk = bulk
        self._links = links

    async def submit(self, request: Request, principal: Principal) -> Response:
        raw = await read_body(request, MAX_BODY)
        if not raw.strip():
            raise MalformedInput('The request body is empty: send CSV rows "<claimToken>","<tags>"')
        job = await self._bulk.submit(principal, raw)
        return json_response({"bulkOpsRequestId": job.id}, 202)

    async def status(self, request: Request, principal: Principal) -> Response:
        job = await self._bulk.get(principal, path_text(request, "job_id"))
        return json_response(bulk_ops_json(job, self._links.base(request)))

    async def errors(self, request: Request) -> Response:
        job = await self._bulk.by_access(path_text(request, "job_id"), path_text(request, "access"))
        return json_response({"errors": await self._bulk.errors(job)})

    async def data(self, request: Request) -> Response:
        job = await self._bulk.by_access(path_text(request, "job_id"), path_text(request, "access"))
        content = await self._bulk.uploaded(job)
        if content is None:
            raise NotFound("The uploaded data is not kept after the bulk operation ends", entity="bulk_ops_request")
        return Response(content, 200, media_type="text/csv")
