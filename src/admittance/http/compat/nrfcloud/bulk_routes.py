"""POST /v1/claimed-devices/bulk and GET /v1/bulk-ops-requests/{id}, with the uploaded file and
the error summary at URLs that carry the job's random access token instead of credentials
(docs/compat/nrfcloud/claiming.md). Every value of a bulk-ops object is a string: the nRF Cloud
client concatenates them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance.http.body import path_text, read_body
from admittance.http.compat.nrfcloud.claiming_routes import MAX_BODY, iso, json_response
from admittance.http.guard import Guard
from admittance.http.state import AppState
from admittance.jobs.model import Job
from admittance.jobs.nrf_bulk import ACCESS_OPTION, ENDPOINT
from admittance.kernel.errors import MalformedInput, NotFound

PREFIX = "/v1/bulk-ops-requests"


def base_url(request: Request, public_url: str) -> str:
    if public_url:
        return public_url.rstrip("/")
    return f"{request.url.scheme}://{request.headers.get('host') or request.url.netloc}"


def bulk_ops_json(job: Job, base: str) -> dict[str, str]:
    access = str(job.options.get(ACCESS_OPTION, ""))
    return {
        "bulkOpsRequestId": job.id,
        "status": job.status.value,
        "endpoint": ENDPOINT,
        "requestedAt": iso(job.created_at),
        "completedAt": iso(job.finished_at) if job.finished_at is not None else "",
        # The upload is kept until the job ends (claim tokens are credentials; every job's input goes then).
        "uploadedDataUrl": "" if job.status.finished else f"{base}{PREFIX}/{job.id}/data/{access}",
        "errorSummaryUrl": f"{base}{PREFIX}/{job.id}/errors/{access}" if job.failed_count or job.error else "",
    }


def routes(state: AppState, guard: Guard) -> list[BaseRoute]:
    async def submit(request: Request) -> Response:
        principal = await guard.permitted(request)
        raw = await read_body(request, MAX_BODY)
        if not raw.strip():
            raise MalformedInput('The request body is empty: send CSV rows "<claimToken>","<tags>"')
        job = await state.services.nrf_bulk.submit(principal, raw)
        return json_response({"bulkOpsRequestId": job.id}, 202)

    async def status(request: Request) -> Response:
        principal = await guard.permitted(request)
        job = await state.services.nrf_bulk.get(principal, path_text(request, "job_id"))
        return json_response(bulk_ops_json(job, base_url(request, state.services.settings.public_url)))

    async def errors(request: Request) -> Response:
        bulk = state.services.nrf_bulk
        job = await bulk.by_access(path_text(request, "job_id"), path_text(request, "access"))
        return json_response({"errors": await bulk.errors(job)})

    async def data(request: Request) -> Response:
        bulk = state.services.nrf_bulk
        job = await bulk.by_access(path_text(request, "job_id"), path_text(request, "access"))
        content = await bulk.uploaded(job)
        if content is None:
            raise NotFound("The uploaded data is not kept after the bulk operation ends", entity="bulk_ops_request")
        return Response(content, 200, media_type="text/csv")

    return [
        Route("/v1/claimed-devices/bulk", submit, methods=["POST"]),
        Route("/v1/identities/claimed-devices/bulk", submit, methods=["POST"]),
        Route(PREFIX + "/{job_id}", status, methods=["GET"]),
        Route(PREFIX + "/{job_id}/errors/{access}", errors, methods=["GET"]),
        Route(PREFIX + "/{job_id}/data/{access}", data, methods=["GET"]),
    ]
