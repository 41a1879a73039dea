"""The device-facing provisioning protocol (sdk-nrf nrf_provisioning over HTTP), authenticated by the
device's ES256 JWT: GET /v1/provisioning/commands (CBOR, 200 or 204) and POST
/v1/provisioning/response (CBOR). docs/compat/nrfcloud/provisioning.md."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from admittance.claiming.device_protocol import MAX_RESPONSE_BYTES
from admittance.claiming.provisioning import ProvisioningService
from admittance.http.body import read_body
from admittance.http.params import header, media_type, query, query_number
from admittance.http.surface import Row, public
from admittance.kernel.errors import MalformedInput, Unauthenticated, UnsupportedMediaType

CBOR = "application/cbor"


def routes(device: DeviceProtocol) -> list[Row]:
    """Public at the door: the service verifies the device's JWT."""
    return [
        public("GET", "/v1/provisioning/commands", device.commands),
        public("POST", "/v1/provisioning/response", device.responses),
    ]


def _device_jwt(request: Request) -> str:
    scheme, _, token = (header(request, "authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("A device JWT is required (Authorization: Bearer <JWT>)", reason="device-jwt-missing")
    return token.strip()


def _int_param(request: Request, name: str) -> int | None:
    def refuse(_value: str) -> MalformedInput:
        return MalformedInput(f"{name} must be a non-negative integer", field=name)

    return query_number(request, name, low=0, high=999_999_999, refuse=refuse)


class DeviceProtocol:
    def __init__(self, provisioning: ProvisioningService) -> None:
        self._provisioning = provisioning

    async def commands(self, request: Request) -> Response:
        token = _device_jwt(request)
        after = query(request, "after") or None
        if after is not None and len(after) > 100:
            raise MalformedInput("after must be a correlation id", field="after")
        body = await self._provisioning.fetch_commands(
            token,
            after=after,
            limit=_int_param(request, "limit"),
            rx_max_size=_int_param(request, "rxMaxSize"),
        )
        _int_param(request, "txMaxSize")  # checked for form; the device bounds its own responses
        if body is None:
            return Response(status_code=204)
        return Response(body, 200, media_type=CBOR)

    async def responses(self, request: Request) -> Response:
        token = _device_jwt(request)
        content_type = media_type(request) if header(request, "content-type") else CBOR
        if content_type not in (CBOR, "application/octet-stream"):
            raise UnsupportedMediaType(f"Unsupported media type {content_type}: send CBOR (application/cbor)")
        body = await read_body(request, MAX_RESPONSE_BYTES)
        await self._provisioning.post_responses(token, body)
        return Response(status_code=200)
