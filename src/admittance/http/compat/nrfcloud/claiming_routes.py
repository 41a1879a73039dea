"""/v1/claimed-devices, /v1/identities/claimed-devices and the tag endpoints
(docs/compat/nrfcloud/claiming.md). Every endpoint passes the one permission policy on method and
path first (Guard.permitted); the claiming service adds tenancy and admin-only visibility."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance.claiming.model import ClaimedDevice, DeviceFilter, DeviceStatus, Tag, TagKind
from admittance.claiming.service import ClaimingService
from admittance.claiming.token import DEVICE_TYPE_NAMES, device_type_label
from admittance.http.body import parse_json_object, path_text, read_body
from admittance.http.guard import Guard
from admittance.http.params import query_number, whole_number
from admittance.http.state import AppState
from admittance.kernel.errors import InvalidInput, MalformedInput

MAX_BODY = 2 * 1024 * 1024  # 1000 CSV rows of real tokens are about 250 kB
DEFAULT_PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 1000
MAX_DEVICE_TYPE = 2**31 - 1  # a stored device type is a 32-bit integer


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def device_json(device: ClaimedDevice) -> dict[str, Any]:
    return {
        "id": device.id,
        "deviceType": device_type_label(device.device_type),
        "firmwareId": device.firmware_id,
        "imei": device.imei or "",
        "ownerId": device.tenant_id,
        "ownershipStatus": device.ownership_status,
        "tags": list(device.tags),
        "status": device.status.value,
        "claimedAt": iso(device.claimed_at),
    }


def tag_json(tag: Tag) -> dict[str, Any]:
    return {"id": tag.id, "tag": tag.tag, "description": tag.description, "createdAt": iso(tag.created_at)}


async def json_body(request: Request) -> dict[str, Any]:
    raw = await read_body(request, MAX_BODY)
    if not raw.strip():
        raise MalformedInput("The request body is empty; a JSON object was expected")
    return parse_json_object(raw)


def is_json_body(request: Request, raw: bytes) -> bool:
    """JSON when declared so, or (no or another Content-Type: nrfcloud-utils sends none with its
    CSV, and a bogus `contentType: text/csv` header) when the body starts like a JSON object."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        return True
    if content_type in ("text/csv", "text/plain"):
        return False
    return raw.lstrip().startswith(b"{")


def encode_page_token(after: tuple[int, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([after[0], after[1]])).rstrip(b"=").decode("ascii")


def decode_page_token(token: str) -> tuple[int, str]:
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise MalformedInput("Invalid pageNextToken") from None
    if (
        not isinstance(decoded, list)
        or len(decoded) != 2
        or not isinstance(decoded[0], int)
        or not isinstance(decoded[1], str)
    ):
        raise MalformedInput("Invalid pageNextToken")
    return decoded[0], decoded[1]


def page_limit(request: Request) -> int:
    limit = query_number(request, "pageLimit", low=1, high=MAX_PAGE_LIMIT, refuse=_bad_page_limit, strict=True)
    return DEFAULT_PAGE_LIMIT if limit is None else limit


def _bad_page_limit(_value: str) -> InvalidInput:
    return InvalidInput(f"pageLimit must be a number from 1 to {MAX_PAGE_LIMIT}")


def device_filter(request: Request) -> DeviceFilter:
    query = request.query_params
    tags: list[str] = []
    for value in query.getlist("tags") + query.getlist("tag"):
        tags.extend(part.strip() for part in value.split(",") if part.strip())
    status = None
    if "status" in query:
        try:
            status = DeviceStatus(query["status"].upper())
        except ValueError:
            raise InvalidInput("status must be READY or BLOCKED") from None
    device_type = None
    if "deviceType" in query:
        device_type = device_type_number(query["deviceType"])
    return DeviceFilter(tags=tuple(tags), status=status, device_type=device_type)


def device_type_number(value: str) -> int:
    number = whole_number(value, 0, MAX_DEVICE_TYPE)
    if number is not None:
        return number
    for number in DEVICE_TYPE_NAMES:
        if device_type_label(number).lower() == value.lower():
            return number
    raise InvalidInput(f"Unknown deviceType {value}")


def routes(state: AppState, guard: Guard) -> list[BaseRoute]:
    def service() -> ClaimingService:
        return state.services.claiming

    async def claim(request: Request) -> Response:
        principal = await guard.permitted(request)
        raw = await read_body(request, MAX_BODY)
        if not raw.strip():
            raise MalformedInput("The request body is empty: send JSON {claimToken, tags} or CSV rows")
        if not is_json_body(request, raw):
            result = await service().claim_csv(principal, raw)
            return json_response({"claimedIds": result.claimed_ids, "failed": result.failed})
        body = parse_json_object(raw)
        if request.query_params.get("dryrun", "").lower() == "true":
            await service().dry_run(principal, body.get("claimToken"))
            return Response(status_code=202)
        device = await service().claim(principal, body.get("claimToken"), body.get("tags"))
        return json_response(device_json(device), 201)

    async def list_devices(request: Request) -> Response:
        principal = await guard.permitted(request)
        token = request.query_params.get("pageNextToken")
        after = decode_page_token(token) if token else None
        page = await service().list_devices(principal, device_filter(request), after, page_limit(request))
        body: dict[str, Any] = {"items": [device_json(device) for device in page.items], "total": page.total}
        if page.next_after is not None:
            body["pageNextToken"] = encode_page_token(page.next_after)
        return json_response(body)

    async def get_device(request: Request) -> Response:
        principal = await guard.permitted(request)
        return json_response(device_json(await service().get_device(principal, path_text(request, "device_id"))))

    async def unclaim(request: Request) -> Response:
        principal = await guard.permitted(request)
        await service().unclaim(principal, path_text(request, "device_id"))
        return Response(status_code=204)

    async def block(request: Request) -> Response:
        principal = await guard.permitted(request)
        device = await service().set_blocked(principal, path_text(request, "device_id"), blocked=True)
        return json_response(device_json(device))

    async def unblock(request: Request) -> Response:
        principal = await guard.permitted(request)
        device = await service().set_blocked(principal, path_text(request, "device_id"), blocked=False)
        return json_response(device_json(device))

    async def put_tags(request: Request) -> Response:
        principal = await guard.permitted(request)
        body = await json_body(request)
        if "tags" not in body:
            raise InvalidInput("'tags' is required", field="tags")
        device = await service().set_tags(principal, path_text(request, "device_id"), body["tags"])
        return json_response(device_json(device))

    async def patch_device(request: Request) -> Response:
        principal = await guard.permitted(request)
        body = await json_body(request)
        device_id = path_text(request, "device_id")
        unknown = set(body) - {"tags"}
        if unknown:
            raise InvalidInput(f"Only 'tags' can be changed (got {', '.join(sorted(unknown))})")
        if "tags" in body:
            device = await service().set_tags(principal, device_id, body["tags"])
        else:
            device = await service().get_device(principal, device_id)
        return json_response(device_json(device))

    def tag_routes(prefix: str, kind: TagKind) -> list[BaseRoute]:
        async def create_tag(request: Request) -> Response:
            principal = await guard.permitted(request)
            body = await json_body(request)
            tag = await service().create_tag(principal, kind, body.get("tag"), body.get("description"))
            return json_response(tag_json(tag), 201)

        async def list_tags(request: Request) -> Response:
            principal = await guard.permitted(request)
            tags = await service().list_tags(principal, kind)
            return json_response({"items": [tag_json(tag) for tag in tags], "total": len(tags)})

        async def get_tag(request: Request) -> Response:
            principal = await guard.permitted(request)
            return json_response(tag_json(await service().get_tag(principal, kind, path_text(request, "tag_id"))))

        async def put_tag(request: Request) -> Response:
            principal = await guard.permitted(request)
            body = await json_body(request)
            tag = await service().update_tag(principal, kind, path_text(request, "tag_id"), body)
            return json_response(tag_json(tag))

        async def delete_tag(request: Request) -> Response:
            principal = await guard.permitted(request)
            await service().delete_tag(principal, kind, path_text(request, "tag_id"))
            return Response(status_code=204)

        return [
            Route(prefix, create_tag, methods=["POST"]),
            Route(prefix, list_tags, methods=["GET"]),
            Route(prefix + "/{tag_id}", get_tag, methods=["GET"]),
            Route(prefix + "/{tag_id}", put_tag, methods=["PUT"]),
            Route(prefix + "/{tag_id}", delete_tag, methods=["DELETE"]),
        ]

    device = "/v1/claimed-devices/{device_id}"
    return [
        *tag_routes("/v1/claimed-devices/tags", TagKind.CLAIMED),
        *tag_routes("/v1/provisioning/tags", TagKind.PROVISIONING),
        Route("/v1/claimed-devices", claim, methods=["POST"]),
        Route("/v1/identities/claimed-devices", claim, methods=["POST"]),
        Route("/v1/claimed-devices", list_devices, methods=["GET"]),
        Route("/v1/identities/claimed-devices", list_devices, methods=["GET"]),
        Route(device, get_device, methods=["GET"]),
        Route(device, unclaim, methods=["DELETE"]),
        Route(device, patch_device, methods=["PATCH"]),
        Route(device + "/block", block, methods=["PUT"]),
        Route(device + "/unblock", unblock, methods=["PUT"]),
        Route(device + "/tags", put_tags, methods=["PUT"]),
    ]
