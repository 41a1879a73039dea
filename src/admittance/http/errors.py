"""Error rendering. One table maps domain error categories to HTTP statuses; each surface renders
its own body and may override a status; the surface whose mount routed the request renders its
errors (http/surface.py). Unexpected exceptions become a 500 with a request id only.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from admittance.kernel.errors import (
    AdmittanceError,
    Conflict,
    InvalidInput,
    InvalidState,
    MalformedInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)

log = logging.getLogger("admittance.http")

# Most specific first: the first matching class decides.
STATUS_BY_ERROR: tuple[tuple[type[AdmittanceError], int], ...] = (
    (MalformedInput, 400),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (InvalidInput, 422),
    (InvalidState, 422),
    (NotFound, 404),
    (Conflict, 409),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (RateLimited, 429),
    (Unavailable, 503),
)


def status_of(error: AdmittanceError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


@dataclass(frozen=True, slots=True)
class Problem:
    """What went wrong, surface-neutral: a surface renders it as its vendor's error body."""

    status: int
    error: AdmittanceError | None  # None: an HTTP-level problem (unknown route, method) or a crash
    message: str
    request_id: str | None = None


Renderer = Callable[[Request, Problem], Response]


class Rendering:
    """The exception handlers of one surface: every error raised below its mount (a domain error, an
    unknown path or method, a crash) becomes a `Problem` rendered by that surface's renderer."""

    def __init__(self, render: Renderer) -> None:
        self.render = render

    async def domain_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AdmittanceError)
        return self.render(request, Problem(status_of(exc), exc, exc.message))

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return self.render(request, Problem(exc.status_code, None, str(exc.detail)))

    async def unexpected(self, request: Request, exc: Exception) -> Response:
        request_id = secrets.token_hex(8)
        log.error("unexpected error, request id %s, %s %s", request_id, request.method, request.url.path, exc_info=exc)
        return self.render(request, Problem(500, None, f"Internal error; request id {request_id}", request_id))

    def handlers(self) -> dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]]:
        """Looked up by the exception's MRO (Starlette's rule), so the most specific class wins."""
        return {AdmittanceError: self.domain_error, HTTPException: self.http_error, Exception: self.unexpected}


def problem_json(request: Request, problem: Problem) -> Response:
    """RFC 9457 problem details: our own API's errors, and those of paths that belong to no surface."""
    body = {
        "type": "about:blank",
        "title": _TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.message,
    }
    if problem.request_id:
        body["requestId"] = problem.request_id
    headers = retry_after(problem)
    return Response(orjson.dumps(body), problem.status, headers=headers, media_type="application/problem+json")


def retry_after(problem: Problem) -> dict[str, str]:
    if isinstance(problem.error, RateLimited):
        return {"retry-after": str(problem.error.retry_after_seconds)}
    return {}


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
