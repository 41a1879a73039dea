"""The device-facing provisioning protocol (sdk-nrf nrf_provisioning over HTTP), authenticated by the
device's ES256 JWT: GET /v1/provisioning/commands (CBOR, 200 or 204) and POST
/v1/provisioning/response (CBOR). docs/compat/nrfcloud/provisioning.md."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance.claiming.device_protocol import MAX_RESPONSE_BYTES
from admittance.claiming.provisioning import ProvisioningService
from admittance.http.body import read_body
from admittance.http.guard import Guard
from admittance.http.params import query_number
from admittance.http.state import AppState
from admittance.kernel.errors import MalformedInput, Unauthenticated, UnsupportedMediaType

CBOR = "application/cbor"


def _device_jwt(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("A device JWT is required (Authorization: Bearer <JWT>)", reason="device-jwt-missing")
    return token.strip()


def _int_param(request: Request, name: str) -> int | None:
    def refuse(_value: str) -> MalformedInput:
        return MalformedInput(f"{name} must be a non-negative integer", field=name)

    return query_number(request, name, low=0, high=999_999_999, refuse=refuse)


def routes(state: AppState, guard: Guard) -> list[BaseRoute]:
    def service() -> ProvisioningService:
        return state.services.provisioning

    async def commands(request: Request) -> Response:
        token = _device_jwt(request)
        after = request.query_params.get("after") or None
        if after is not None and len(after) > 100:
            raise MalformedInput("after must be a correlation id", field="after")
        body = await service().fetch_commands(
            token,
            after=after,
            limit=_int_param(request, "limit"),
            rx_max_size=_int_param(request, "rxMaxSize"),
        )
        _int_param(request, "txMaxSize")  # checked for form; the device bounds its own responses
        if body is None:
            return Response(status_code=204)
        return Response(body, 200, media_type=CBOR)

    async def responses(request: Request) -> Response:
        token = _device_jwt(request)
        content_type = (request.headers.get("content-type") or CBOR).split(";", 1)[0].strip().lower()
        if content_type not in (CBOR, "application/octet-stream"):
            raise UnsupportedMediaType(f"Unsupported media type {content_type}: send CBOR (application/cbor)")
        body = await read_body(request, MAX_RESPONSE_BYTES)
        await service().post_responses(token, body)
        return Response(status_code=200)

    return [
        Route("/v1/provisioning/commands", commands, methods=["GET"]),
        Route("/v1/provisioning/response", responses, methods=["POST"]),
    ]
