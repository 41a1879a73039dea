"""nRF Cloud claim tokens on Admittance's own API (/admittance/v1/nrf): the identity key registry
(known-keys verification), server-issued challenges and the tenant's verification mode. Errors are
RFC 9457 problem documents. Permissions are checked by the service (claiming/keys.py)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from admittance.claiming.keys import IdentityKeyService
from admittance.claiming.model import IdentityKey
from admittance.http.body import read_body, read_json_object
from admittance.http.params import header, path_text, query, query_number
from admittance.http.surface import Row, guarded
from admittance.http.times import utc_millis
from admittance.kernel.errors import InvalidInput
from admittance.kernel.principal import Principal

PREFIX = "/admittance/v1/nrf"
JSON = "application/json"
_MAX_PAGE = 1000
_JSON_BODY_BYTES = 64 * 1024


def routes(keys: IdentityKeys) -> list[Row]:
    """Every endpoint runs for the authenticated caller; the service checks the permissions."""
    return [
        guarded("POST", f"{PREFIX}/identity-keys", keys.import_keys),
        guarded("GET", f"{PREFIX}/identity-keys", keys.list_keys),
        guarded("DELETE", f"{PREFIX}/identity-keys/{{uuid}}", keys.delete_key),
        guarded("POST", f"{PREFIX}/challenges", keys.issue_challenge),
        guarded("GET", f"{PREFIX}/claim-verification", keys.get_mode),
        guarded("PUT", f"{PREFIX}/claim-verification", keys.set_mode),
    ]


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status, media_type=JSON)


def _key_document(key: IdentityKey) -> dict[str, Any]:
    return {"deviceUuid": key.device_uuid, "publicKey": key.public_key_pem, "createdAt": utc_millis(key.created_at)}


def _page_size(request: Request) -> int:
    size = query_number(request, "pageSize", low=1, high=_MAX_PAGE, refuse=_bad_page_size, strict=True)
    return 100 if size is None else size


def _bad_page_size(_value: str) -> InvalidInput:
    return InvalidInput(f"pageSize must be a whole number from 1 to {_MAX_PAGE}", field="pageSize")


class IdentityKeys:
    """The identity key registry, challenges and the verification mode of the caller's tenant."""

    def __init__(self, keys: IdentityKeyService, max_manifest_bytes: int) -> None:
        self._keys = keys
        self._max_manifest_bytes = max_manifest_bytes

    async def import_keys(self, request: Request, principal: Principal) -> Response:
        data = await read_body(request, self._max_manifest_bytes)
        result = await self._keys.import_keys(principal, data, header(request, "content-type"))
        return _json({"created": result.created, "updated": result.updated})

    async def list_keys(self, request: Request, principal: Principal) -> Response:
        size = _page_size(request)
        keys, total = await self._keys.list_keys(principal, after=query(request, "after") or None, limit=size)
        document: dict[str, Any] = {"keys": [_key_document(key) for key in keys], "total": total}
        if len(keys) == size:
            document["next"] = f"{PREFIX}/identity-keys?pageSize={size}&after={keys[-1].device_uuid}"
        return _json(document)

    async def delete_key(self, request: Request, principal: Principal) -> Response:
        await self._keys.delete_key(principal, path_text(request, "uuid"))
        return Response(status_code=204)

    async def issue_challenge(self, _request: Request, principal: Principal) -> Response:
        challenge = await self._keys.issue_challenge(principal)
        return _json({"challenge": challenge.nonce, "expiresAt": utc_millis(challenge.expires_at)}, 201)

    async def get_mode(self, _request: Request, principal: Principal) -> Response:
        mode = await self._keys.mode(principal)
        return _json({"mode": mode.value})

    async def set_mode(self, request: Request, principal: Principal) -> Response:
        document = await read_json_object(request, _JSON_BODY_BYTES)
        mode = document.get("mode")
        if not isinstance(mode, str):
            raise InvalidInput('The body must be {"mode": "known-keys" | "structure-only"}', field="mode")
        chosen = await self._keys.set_mode(principal, mode)
        return _json({"mode": chosen.value})
