"""Cumulocity error bodies: {error, message, info} with the vendor error media type."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from admittance.http.compat.cumulocity.media import ERROR
from admittance.http.errors import Problem, retry_after
from admittance.http.params import header
from admittance.kernel.errors import (
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

INFO = "https://cumulocity.com/guides/reference/rest-implementation/#error_reporting"
UNAUTHORIZED_MESSAGE = "Invalid credentials! : Bad credentials"
_PREFIX = {
    "registration_request": "devicecontrol",
    "managed_object": "inventory",
    "external_id": "identity",
    "user": "user",
    "tenant": "tenant",
}
_HTTP_NAMES = {404: "general/notFound", 405: "general/methodNotAllowed", 400: "general/badRequest"}


def _error_name(problem: Problem) -> str:
    error = problem.error
    if error is None:
        return _HTTP_NAMES.get(problem.status, "general/internalError")
    prefix = _PREFIX.get(error.entity or "", "general")
    checks: tuple[tuple[type[Exception], str], ...] = (
        (Unauthenticated, "security/Unauthorized"),
        (PermissionDenied, "security/Forbidden"),
        (RateLimited, "security/tooManyRequests"),
        (Unavailable, "general/serviceUnavailable"),
        (PayloadTooLarge, "general/requestEntityTooLarge"),
        (UnsupportedMediaType, "general/unsupportedMediaType"),
        (MalformedInput, "general/badRequest"),
        (InvalidInput, "undefined/validationError"),
        (InvalidState, "undefined/validationError"),
        (NotFound, f"{prefix}/Not Found"),
        (Conflict, f"{prefix}/Duplicate"),
    )
    for kind, name in checks:
        if isinstance(error, kind):
            return name
    return "general/internalError"


def not_found(request: Request, message: str, entity: str) -> Response:
    """A 404 for an expected outcome (a device polling before acceptance), without raising."""
    return render(request, Problem(404, NotFound(message, entity=entity), message))


def render(request: Request, problem: Problem) -> Response:
    message = UNAUTHORIZED_MESSAGE if isinstance(problem.error, Unauthenticated) else problem.message
    body = {"error": _error_name(problem), "message": message, "info": INFO}
    headers = retry_after(problem)
    if problem.status == 401:
        # @c8y/client sends UseXBasic so that browsers show no login pop-up.
        scheme = "XBasic" if (header(request, "usexbasic") or "").lower() == "true" else "Basic"
        headers["www-authenticate"] = f'{scheme} realm="Cumulocity"'
    return Response(orjson.dumps(body), problem.status, headers=headers, media_type=ERROR)
