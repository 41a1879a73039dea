"""How the Connectware document describes an operation: its error answers (an `Error` body, with
Retry-After on a 429), the statuses every guarded or body-taking operation can answer, and the
parameters. Each route module declares its operations with `operation(...)` beside its routes table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from admittance.http.openapi import INTEGER, JSON, STRING, Answer, Operation, Schema, parameter, ref

GUARDED = (401, 403, 429)
BODY = (400, 413, 415, 422)
NO_CONTENT: Mapping[int, Answer] = {204: Answer("Done; no content")}
PUBLIC: Sequence[dict[str, Any]] = ()
_ERROR_NAMES = {
    400: "The request is malformed (not JSON, wrong JSON type, bad parameter)",
    401: "No valid credentials (the same answer for every authentication failure)",
    403: "Authenticated, but the permissions do not allow this method on this path",
    404: "Nothing is stored under that id (or it belongs to another tenant)",
    409: "It conflicts with what is stored (a name or username already taken)",
    413: "The request body is larger than the configured limit",
    415: "The request body is not JSON",
    422: "The request is well-formed but its values are not acceptable",
    423: "The client registry is locked: an operator must open it first",
    429: "Too many failed attempts; retry after the number of seconds in Retry-After",
}


def error(status: int, description: str | None = None) -> Answer:
    headers = {"Retry-After": {"schema": INTEGER, "description": "Seconds to wait"}} if status == 429 else {}
    return Answer(description or _ERROR_NAMES[status], {JSON: ref("Error")}, headers)


def operation(
    method: str,
    path: str,
    summary: str,
    tag: str,
    answers: Mapping[int, Answer],
    errors: Sequence[int],
    *,
    body: Schema | None = None,
    media: Mapping[str, Schema] | None = None,
    body_required: bool = True,
    parameters: Sequence[dict[str, Any]] = (),
    public: bool = False,
    notes: Mapping[int, str] | None = None,
    never: Sequence[int] = (),
) -> Operation:
    """`body`: a JSON request body (`media`: the body's schema per media type instead); `notes`: what
    an error status means for this operation; `never`: body errors (`BODY`) it cannot answer."""
    content = media if media is not None else ({JSON: body} if body is not None else None)
    body_errors = set(BODY) - set(never) if content is not None else set()
    statuses = sorted(set(errors) | body_errors)
    return Operation(
        method,
        path,
        summary,
        tag,
        answers,
        {status: error(status, (notes or {}).get(status)) for status in statuses},
        body=content,
        body_required=body_required,
        parameters=parameters,
        security=PUBLIC if public else None,
    )


def path_id(name: str, description: str) -> dict[str, Any]:
    return parameter(name, "path", STRING, description, required=True)


def query_parameter(name: str, schema: Schema, description: str, *, required: bool = False) -> dict[str, Any]:
    return parameter(name, "query", schema, description, required=required)


def header_parameter(name: str, schema: Schema, description: str, *, required: bool = False) -> dict[str, Any]:
    return parameter(name, "header", schema, description, required=required)


PAGE = query_parameter("pageNumber", {"type": "integer", "minimum": 1}, "The page number to fetch, starts at page 1")
ROWS = query_parameter("rowsPerPage", {"type": "integer", "minimum": 1}, "The number of records per page")
