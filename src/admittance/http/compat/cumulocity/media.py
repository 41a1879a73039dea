"""Cumulocity media types and the rules for when a response carries a body."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from admittance.http.params import header

_VENDOR = "application/vnd.com.nsn.cumulocity.{}+json;charset=UTF-8;ver=0.9"

NEW_DEVICE_REQUEST = _VENDOR.format("newdevicerequest")
NEW_DEVICE_REQUEST_COLLECTION = _VENDOR.format("newdevicerequestcollection")
DEVICE_CREDENTIALS = _VENDOR.format("devicecredentials")
MANAGED_OBJECT = _VENDOR.format("managedobject")
MANAGED_OBJECT_COLLECTION = _VENDOR.format("managedobjectcollection")
MANAGED_OBJECT_REFERENCE = _VENDOR.format("managedobjectreference")
MANAGED_OBJECT_REFERENCE_COLLECTION = _VENDOR.format("managedobjectreferencecollection")
EXTERNAL_ID = _VENDOR.format("externalid")
EXTERNAL_ID_COLLECTION = _VENDOR.format("externalidcollection")
CURRENT_USER = _VENDOR.format("currentuser")
ERROR = _VENDOR.format("error")
JSON = "application/json"


def wants_body(request: Request) -> bool:
    """POST and PUT answer with a body only when the client sent an Accept header (any value)."""
    return bool((header(request, "accept") or "").strip())


def json_response(document: Any, status: int, media_type: str, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status, headers=headers, media_type=media_type)


def created_or_updated(
    request: Request, document: Any, status: int, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    if wants_body(request):
        return json_response(document, status, media_type, headers)
    return Response(b"", status, headers=headers)
