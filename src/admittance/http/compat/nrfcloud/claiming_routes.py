"""/v1/claimed-devices, /v1/identities/claimed-devices and the tag endpoints
(docs/compat/nrfcloud/claiming.md). Every endpoint runs for a caller the one permission policy
lets in on method and path (checked by the mount); the claiming service adds tenancy and
admin-only visibility."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from admittance.claiming.model import TagKind
from admittance.claiming.service import ClaimingService
from admittance.http.body import parse_json_object, read_body
from admittance.http.compat.nrfcloud.representations import device_filter, device_json, page_limit, tag_json
from admittance.http.paging import decode_after, encode_after
from admittance.http.params import media_type, path_text, query
from admittance.http.responses import json_response, no_content
from admittance.http.surface import Row, guarded
from admittance.kernel.errors import InvalidInput, MalformedInput
from admittance.kernel.principal import Principal

MAX_BODY = 2 * 1024 * 1024  # 1000 CSV rows of real tokens are about 250 kB
DEVICE = "/v1/claimed-devices/{device_id}"


def routes(devices: ClaimedDevices, claimed_tags: Tags, provisioning_tags: Tags) -> list[Row]:
    return [
        *tag_routes("/v1/claimed-devices/tags", claimed_tags),
        *tag_routes("/v1/provisioning/tags", provisioning_tags),
        guarded("POST", "/v1/claimed-devices", devices.claim),
        guarded("POST", "/v1/identities/claimed-devices", devices.claim),
        guarded("GET", "/v1/claimed-devices", devices.list),
        guarded("GET", "/v1/identities/claimed-devices", devices.list),
        guarded("GET", DEVICE, devices.get),
        guarded("DELETE", DEVICE, devices.unclaim),
        guarded("PATCH", DEVICE, devices.patch),
        guarded("PUT", DEVICE + "/block", devices.block),
        guarded("PUT", DEVICE + "/unblock", devices.unblock),
        guarded("PUT", DEVICE + "/tags", devices.put_tags),
    ]


def tag_routes(prefix: str, tags: Tags) -> list[Row]:
    return [
        guarded("POST", prefix, tags.create),
        guarded("GET", prefix, tags.list),
        guarded("GET", prefix + "/{tag_id}", tags.get),
        guarded("PUT", prefix + "/{tag_id}", tags.put),
        guarded("DELETE", prefix + "/{tag_id}", tags.delete),
    ]


async def json_body(request: Request) -> dict[str, Any]:
    raw = await read_body(request, MAX_BODY)
    if not raw.strip():
        raise MalformedInput("The request body is empty; a JSON object was expected")
    return parse_json_object(raw)


def is_json_body(request: Request, raw: bytes) -> bool:
    """JSON when declared so, or (no or another Content-Type: nrfcloud-utils sends none with its
    CSV, and a bogus `contentType: text/csv` header) when the body starts like a JSON object."""
    content_type = media_type(request)
    if content_type == "application/json" or content_type.endswith("+json"):
        return True
    if content_type in ("text/csv", "text/plain"):
        return False
    return raw.lstrip().startswith(b"{")


class ClaimedDevices:
    def __init__(self, claiming: ClaimingService) -> None:
        self._claiming = claiming

    async def claim(self, request: Request, principal: Principal) -> Response:
        raw = await read_body(request, MAX_BODY)
        if not raw.strip():
            raise MalformedInput("The request body is empty: send JSON {claimToken, tags} or CSV rows")
        if not is_json_body(request, raw):
            result = await self._claiming.claim_csv(principal, raw)
            return json_response({"claimedIds": result.claimed_ids, "failed": result.failed})
        body = parse_json_object(raw)
        if (query(request, "dryrun") or "").lower() == "true":
            await self._claiming.dry_run(principal, body.get("claimToken"))
            return Response(status_code=202)
        device = await self._claiming.claim(principal, body.get("claimToken"), body.get("tags"))
        return json_response(device_json(device), 201)

    async def list(self, request: Request, principal: Principal) -> Response:
        token = query(request, "pageNextToken")
        after = decode_after(token) if token else None
        page = await self._claiming.list_devices(principal, device_filter(request), after, page_limit(request))
        body: dict[str, Any] = {"items": [device_json(device) for device in page.items], "total": page.total}
        if page.next_after is not None:
            body["pageNextToken"] = encode_after(page.next_after)
        return json_response(body)

    async def get(self, request: Request, principal: Principal) -> Response:
        return json_response(device_json(await self._claiming.get_device(principal, path_text(request, "device_id"))))

    async def unclaim(self, request: Request, principal: Principal) -> Response:
        await self._claiming.unclaim(principal, path_text(request, "device_id"))
        return no_content()

    async def block(self, request: Request, principal: Principal) -> Response:
        device = await self._claiming.set_blocked(principal, path_text(request, "device_id"), blocked=True)
        return json_response(device_json(device))

    async def unblock(self, request: Request, principal: Principal) -> Response:
        device = await self._claiming.set_blocked(principal, path_text(request, "device_id"), blocked=False)
        return json_response(device_json(device))

    async def put_tags(self, request: Request, principal: Principal) -> Response:
        body = await json_body(request)
        if "tags" not in body:
            raise InvalidInput("'tags' is required", field="tags")
        device = await self._claiming.set_tags(principal, path_text(request, "device_id"), body["tags"])
        return json_response(device_json(device))

    async def patch(self, request: Request, principal: Principal) -> Response:
        body = await json_body(request)
        device_id = path_text(request, "device_id")
        unknown = set(body) - {"tags"}
        if unknown:
            raise InvalidInput(f"Only 'tags' can be changed (got {', '.join(sorted(unknown))})")
        if "tags" in body:
            device = await self._claiming.set_tags(principal, device_id, body["tags"])
        else:
            device = await self._claiming.get_device(principal, device_id)
        return json_response(device_json(device))


class Tags:
    """The tags of one kind: those of claimed devices, or those of provisioning."""

    def __init__(self, claiming: ClaimingService, kind: TagKind) -> None:
        self._claiming = claiming
        self._kind = kind

    async def create(self, request: Request, principal: Principal) -> Response:
        body = await json_body(request)
        tag = await self._claiming.create_tag(principal, self._kind, body.get("tag"), body.get("description"))
        return json_response(tag_json(tag), 201)

    async def list(self, _request: Request, principal: Principal) -> Response:
        tags = await self._claiming.list_tags(principal, self._kind)
        return json_response({"items": [tag_json(tag) for tag in tags], "total": len(tags)})

    async def get(self, request: Request, principal: Principal) -> Response:
        return json_response(
            tag_json(await self._claiming.get_tag(principal, self._kind, path_text(request, "tag_id")))
        )

    async def put(self, request: Request, principal: Principal) -> Response:
        body = await json_body(request)
        tag = await self._claiming.update_tag(principal, self._kind, path_text(request, "tag_id"), body)
        return json_response(tag_json(tag))

    async def delete(self, request: Request, principal: Principal) -> Response:
        await self._claiming.delete_tag(principal, self._kind, path_text(request, "tag_id"))
        return no_content()
