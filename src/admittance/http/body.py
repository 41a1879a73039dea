"""Request bodies: size limit, media type and JSON parsing, with clear errors."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from admittance.http.params import header, header_number
from admittance.kernel.errors import InvalidInput, MalformedInput, PayloadTooLarge, UnsupportedMediaType

# NUL cannot be stored in a PostgreSQL text column, and no name or id of ours may contain it.
_ESCAPED_NUL = b"\\u0000"


def _contains_nul(document: Any) -> bool:
    if isinstance(document, str):
        return "\x00" in document
    if isinstance(document, dict):
        return any(_contains_nul(key) or _contains_nul(value) for key, value in document.items())
    if isinstance(document, list):
        return any(_contains_nul(item) for item in document)
    return False


def is_json_media_type(content_type: str | None) -> bool:
    """application/json, any application/*+json vendor type, in any case, with any parameters."""
    if not content_type:
        return True  # clients that send no Content-Type with a JSON body are common; accept them
    base = content_type.split(";", 1)[0].strip().lower()
    return base in ("application/json", "text/json", "") or (base.startswith("application/") and base.endswith("+json"))


async def read_body(request: Request, max_bytes: int) -> bytes:
    try:
        declared = header_number(request, "content-length", max_bytes)
    except ValueError:
        raise MalformedInput("Content-Length must be a number") from None
    if declared is not None and declared > max_bytes:
        raise PayloadTooLarge(f"The request body is larger than the limit of {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"The request body is larger than the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def require_json_media_type(request: Request) -> None:
    content_type = header(request, "content-type")
    if not is_json_media_type(content_type):
        raise UnsupportedMediaType(f"Unsupported media type {content_type}: send JSON (application/json)")


def parse_json(raw: bytes) -> Any:
    """Any JSON document; a body that does not parse is a MalformedInput naming why."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedInput(f"The request body is not valid JSON: {exc}") from exc


def parse_json_object(raw: bytes) -> dict[str, Any]:
    document = parse_json(raw)
    if not isinstance(document, dict):
        raise MalformedInput("The request body must be a JSON object")
    return document


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    require_json_media_type(request)
    raw = await read_body(request, max_bytes)
    if not raw.strip():
        raise MalformedInput("The request body is empty; a JSON object was expected")
    document = parse_json_object(raw)
    if _ESCAPED_NUL in raw and _contains_nul(document):
        raise InvalidInput("Text in the request body must not contain NUL characters")
    return document
