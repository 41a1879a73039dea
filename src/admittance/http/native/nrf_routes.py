"""nRF Cloud claim tokens on Admittance's own API (/admittance/v1/nrf): the identity key registry
(known-keys verification), server-issued challenges and the tenant's verification mode. Errors are
RFC 9457 problem documents. Permissions are checked by the service (claiming/keys.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admittance.claiming.token_store import IdentityKey
from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.body import path_text, read_body, read_json_object
from admittance.http.params import query_number
from admittance.http.state import AppState
from admittance.kernel.errors import InvalidInput

PREFIX = "/admittance/v1/nrf"
JSON = "application/json"
_MAX_PAGE = 1000
_JSON_BODY_BYTES = 64 * 1024


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status, media_type=JSON)


def _key_document(key: IdentityKey) -> dict[str, Any]:
    return {"deviceUuid": key.device_uuid, "publicKey": key.public_key_pem, "createdAt": _iso(key.created_at)}


def _page_size(request: Request) -> int:
    size = query_number(request, "pageSize", low=1, high=_MAX_PAGE, refuse=_bad_page_size, strict=True)
    return 100 if size is None else size


def _bad_page_size(_value: str) -> InvalidInput:
    return InvalidInput(f"pageSize must be a whole number from 1 to {_MAX_PAGE}", field="pageSize")


def routes(state: AppState, auth: BasicAuthenticator) -> list[Route]:
    async def import_keys(request: Request) -> Response:
        principal = await auth.principal(request)
        data = await read_body(request, state.services.settings.max_manifest_bytes)
        result = await state.services.identity_keys.import_keys(principal, data, request.headers.get("content-type"))
        return _json({"created": result.created, "updated": result.updated})

    async def list_keys(request: Request) -> Response:
        principal = await auth.principal(request)
        size = _page_size(request)
        keys, total = await state.services.identity_keys.list_keys(
            principal, after=request.query_params.get("after") or None, limit=size
        )
        document: dict[str, Any] = {"keys": [_key_document(key) for key in keys], "total": total}
        if len(keys) == size:
            document["next"] = f"{PREFIX}/identity-keys?pageSize={size}&after={keys[-1].device_uuid}"
        return _json(document)

    async def delete_key(request: Request) -> Response:
        principal = await auth.principal(request)
        await state.services.identity_keys.delete_key(principal, path_text(request, "uuid"))
        return Response(status_code=204)

    async def issue_challenge(request: Request) -> Response:
        principal = await auth.principal(request)
        challenge = await state.services.identity_keys.issue_challenge(principal)
        return _json({"challenge": challenge.nonce, "expiresAt": _iso(challenge.expires_at)}, 201)

    async def get_mode(request: Request) -> Response:
        principal = await auth.principal(request)
        mode = await state.services.identity_keys.mode(principal)
        return _json({"mode": mode.value})

    async def set_mode(request: Request) -> Response:
        principal = await auth.principal(request)
        document = await read_json_object(request, _JSON_BODY_BYTES)
        mode = document.get("mode")
        if not isinstance(mode, str):
            raise InvalidInput('The body must be {"mode": "known-keys" | "structure-only"}', field="mode")
        chosen = await state.services.identity_keys.set_mode(principal, mode)
        return _json({"mode": chosen.value})

    return [
        Route(f"{PREFIX}/identity-keys", import_keys, methods=["POST"]),
        Route(f"{PREFIX}/identity-keys", list_keys, methods=["GET"]),
        Route(f"{PREFIX}/identity-keys/{{uuid}}", delete_key, methods=["DELETE"]),
        Route(f"{PREFIX}/challenges", issue_challenge, methods=["POST"]),
        Route(f"{PREFIX}/claim-verification", get_mode, methods=["GET"]),
        Route(f"{PREFIX}/claim-verification", set_mode, methods=["PUT"]),
    ]
