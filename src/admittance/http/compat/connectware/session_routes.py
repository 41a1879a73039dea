"""Sessions, tokens and MFA on the Connectware surface (docs/compat/connectware/sessions.md):
POST /api/login, GET /api/session, GET/DELETE /api/users/{id}/tokens, PUT /api/users/change-password,
POST /api/mfa/{enable,validate,login,disable,regenerate/backupcodes}."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from admittance.http.basic_auth import client_address
from admittance.http.body import read_json_object
from admittance.http.guard import Guard
from admittance.http.params import path_number
from admittance.http.state import AppState
from admittance.identity import PresentedCredentials
from admittance.identity.model import TokenInfo
from admittance.identity.sessions import LoginResult
from admittance.kernel.access import Permission
from admittance.kernel.errors import InvalidInput, NotFound
from admittance.kernel.principal import Principal


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def permissions_json(permissions: frozenset[Permission]) -> list[dict[str, str]]:
    ordered = sorted(permissions, key=lambda p: (p.context.value, p.resource, p.operation.value))
    return [{"resource": p.resource, "operation": p.operation.value, "context": p.context.value} for p in ordered]


def login_json(result: LoginResult) -> dict[str, Any]:
    return {
        "token": result.token,
        "expiresAt": iso(result.expires_at) if result.expires_at else None,
        "permissions": permissions_json(result.principal.permissions) if result.principal else [],
        "needsMfa": result.needs_mfa,
        "secret": result.challenge,
        "enforceMFAEnrollment": result.enforce_mfa_enrollment,
    }


def token_json(token: TokenInfo) -> dict[str, Any]:
    return {
        "fingerprint": token.fingerprint,
        "createdAt": iso(token.created_at),
        "expiresAt": iso(token.expires_at),
        "label": token.label,
    }


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    return value


def _required(body: dict[str, Any], name: str) -> str:
    value = _text(body, name)
    if value is None:
        raise InvalidInput(f"{name} is required", field=name)
    return value


def _user_id(request: Request) -> int:
    return path_number(request, "id", 10**18 - 1, _no_such_user)


def _no_such_user(raw: str) -> NotFound:
    return NotFound(f"There is no user {raw}", entity="user")


def routes(state: AppState, guard: Guard) -> list[BaseRoute]:
    def max_bytes() -> int:
        return state.services.settings.max_body_bytes

    async def login(request: Request) -> Response:
        body = await read_json_object(request, max_bytes())
        user = _required(body, "username")
        password = _required(body, "password")
        tenant, username = await guard.auth.account_of(request, user)
        presented = PresentedCredentials(tenant, username, password, client_address(request))
        result = await state.services.sessions.login(presented, body.get("expireTimeInHours"), body.get("label"))
        return JSONResponse(login_json(result))

    async def session(request: Request) -> Response:
        caller = await guard.caller(request)
        enrolled, enforced = await state.services.sessions.mfa_status(caller.principal)
        return JSONResponse(
            {
                "username": caller.principal.username,
                "expiresAt": iso(caller.session.expires_at) if caller.session else None,
                "permissions": permissions_json(caller.principal.permissions),
                "mfa": {"enabled": enrolled, "enforced": enforced},
            }
        )

    async def authorized_for_user(request: Request) -> tuple[Principal, int]:
        """The user themself, or a caller the policy permits on this path (e.g. /api/users/# write)."""
        principal = await guard.authenticated(request)
        user_id = _user_id(request)
        if principal.user_id != user_id:
            principal.require_request(request.method, request.url.path)
        return principal, user_id

    async def list_tokens(request: Request) -> Response:
        principal, user_id = await authorized_for_user(request)
        tokens = await state.services.sessions.list_tokens(principal, user_id)
        return JSONResponse([token_json(token) for token in tokens])

    async def revoke_tokens(request: Request) -> Response:
        principal, user_id = await authorized_for_user(request)
        query = request.query_params
        token_id = query.get("fingerprint") or query.get("tokenId") or query.get("id") or None
        revoked = await state.services.sessions.revoke_tokens(principal, user_id, token_id)
        if token_id is not None and revoked == 0:
            raise NotFound(f"There is no token {token_id} of user {user_id}", entity="token")
        return Response(status_code=204)

    async def change_password(request: Request) -> Response:
        caller = await guard.caller(request)
        body = await read_json_object(request, max_bytes())
        password = _required(body, "password")
        new_password = _required(body, "newPassword")
        await state.services.sessions.change_password(
            caller.principal,
            caller.session.token_id if caller.session else None,
            client_address(request),
            password,
            new_password,
        )
        return Response(status_code=204)

    async def mfa_enable(request: Request) -> Response:
        principal = await guard.authenticated(request)
        return JSONResponse({"uri": await state.services.mfa.enable(principal)})

    async def mfa_validate(request: Request) -> Response:
        principal = await guard.authenticated(request)
        body = await read_json_object(request, max_bytes())
        otp = _required(body, "otp")
        codes = await state.services.mfa.validate(principal, otp, client_address(request))
        return JSONResponse({"backupCodes": codes})

    async def mfa_login(request: Request) -> Response:
        body = await read_json_object(request, max_bytes())
        user = _required(body, "username")
        challenge = _required(body, "secret")
        otp, backup = _text(body, "otp"), _text(body, "backupCode")
        if otp is None and backup is None:
            raise InvalidInput("otp or backupCode is required", field="otp")
        tenant, username = await guard.auth.account_of(request, user)
        result = await state.services.mfa.login(tenant, username, challenge, otp, backup, client_address(request))
        return JSONResponse(login_json(result))

    async def mfa_disable(request: Request) -> Response:
        principal = await guard.authenticated(request)
        body = await read_json_object(request, max_bytes())
        await state.services.mfa.disable(
            principal, _text(body, "otp"), _text(body, "backupCode"), client_address(request)
        )
        return Response(status_code=204)

    async def mfa_regenerate(request: Request) -> Response:
        principal = await guard.authenticated(request)
        body = await read_json_object(request, max_bytes())
        codes = await state.services.mfa.regenerate_backup_codes(
            principal, _text(body, "otp"), _text(body, "backupCode"), client_address(request)
        )
        return JSONResponse({"backupCodes": codes})

    return [
        Route("/api/login", login, methods=["POST"]),
        Route("/api/session", session, methods=["GET"]),
        Route("/api/users/change-password", change_password, methods=["PUT"]),
        Route("/api/users/{id}/tokens", list_tokens, methods=["GET"]),
        Route("/api/users/{id}/tokens", revoke_tokens, methods=["DELETE"]),
        Route("/api/mfa/enable", mfa_enable, methods=["POST"]),
        Route("/api/mfa/validate", mfa_validate, methods=["POST"]),
        Route("/api/mfa/login", mfa_login, methods=["POST"]),
        Route("/api/mfa/disable", mfa_disable, methods=["POST"]),
        Route("/api/mfa/regenerate/backupcodes", mfa_regenerate, methods=["POST"]),
    ]
