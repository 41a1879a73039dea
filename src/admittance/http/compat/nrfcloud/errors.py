"""nRF Cloud error bodies: `{"message": str, "code": int}` as JSON. `code` is the HTTP status times
100 plus a small suffix for specific cases (40900 "already claimed"); docs/compat/nrfcloud/claiming.md."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from admittance.http.errors import Problem, retry_after
from admittance.kernel.errors import InvalidInput, Unauthenticated

UNAUTHORIZED_MESSAGE = "Unauthorized"


def error_code(problem: Problem) -> int:
    """status * 100, plus the suffix an error carries as its `nrf_code_suffix` attribute (0-99)."""
    suffix = getattr(problem.error, "nrf_code_suffix", 0) if problem.error is not None else 0
    if not isinstance(suffix, int) or not 0 <= suffix < 100:
        suffix = 0
    return problem.status * 100 + suffix


def render(request: Request, problem: Problem) -> Response:
    if problem.status == 422 and isinstance(problem.error, InvalidInput):
        # nRF Cloud answers invalid input with 400 (a broken state stays 422).
        problem = Problem(400, problem.error, problem.message, problem.request_id)
    # Every authentication failure reads the same, whatever its cause.
    message = UNAUTHORIZED_MESSAGE if isinstance(problem.error, Unauthenticated) else problem.message
    body: dict[str, object] = {"message": message, "code": error_code(problem)}
    if problem.request_id:
        body["requestId"] = problem.request_id
    headers = retry_after(problem)
    if problem.status == 401:
        headers["www-authenticate"] = 'Bearer realm="admittance"'
    return Response(orjson.dumps(body), problem.status, headers=headers, media_type="application/json")
