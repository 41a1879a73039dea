"""Connectware error bodies: `{statusCode, error, message}` as JSON (docs/compat/connectware.md says why)."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from admittance.http.errors import Problem, retry_after
from admittance.http.openapi import INTEGER, STRING, WireObject, described, member
from admittance.kernel.errors import Unauthenticated

UNAUTHORIZED_MESSAGE = "Invalid credentials"
ERROR = WireObject[Problem](
    "Error",
    [
        member("statusCode", INTEGER, required=True),
        member("error", STRING, required=True),
        member("message", STRING, required=True),
        member("requestId", described(STRING, "Only on a 500, to find the log entry")),
    ],
)
_NAMES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    423: "Locked",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def render(request: Request, problem: Problem) -> Response:
    # Every authentication failure reads the same, whatever its cause.
    message = UNAUTHORIZED_MESSAGE if isinstance(problem.error, Unauthenticated) else problem.message
    body = {"statusCode": problem.status, "error": _NAMES.get(problem.status, "Error"), "message": message}
    if problem.request_id:
        body["requestId"] = problem.request_id
    headers = retry_after(problem)
    if problem.status == 401:
        headers["www-authenticate"] = 'Bearer realm="admittance"'
    return Response(orjson.dumps(body), problem.status, headers=headers, media_type="application/json")
