"""Sessions, tokens and MFA on the Connectware surface (docs/compat/connectware/sessions.md):
POST /api/login, GET /api/session, GET/DELETE /api/users/{id}/tokens, PUT /api/users/change-password,
POST /api/mfa/{enable,validate,login,disable,regenerate/backupcodes}."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from admittance.http.basic_auth import BasicAuthenticator, Caller, client_address
from admittance.http.body import read_json_object
from admittance.http.compat.connectware import representations as rep
from admittance.http.compat.connectware.inputs import PASSWORD, SESSION_FIELDS
from admittance.http.compat.connectware.spec import GUARDED, NO_CONTENT, operation, path_id, query_parameter
from admittance.http.openapi import (
    BOOLEAN,
    NULLABLE_STRING,
    STRING,
    WireObject,
    array,
    described,
    json_answer,
    member,
    one,
    out,
    ref,
)
from admittance.http.params import path_number, query
from admittance.http.responses import json_response, no_content
from admittance.http.surface import Access, Row, guarded, public
from admittance.http.times import utc_millis
from admittance.identity import PresentedCredentials
from admittance.identity.mfa import MfaService
from admittance.identity.sessions import SessionService
from admittance.kernel.errors import InvalidInput, NotFound
from admittance.kernel.principal import Principal

TOKENS = "/api/users/{id}/tokens"


def routes(sessions: Sessions, mfa: Mfa, authenticated: Access) -> list[Row]:
    """Logging in is public; one's own session, password and MFA need only authentication; the tokens
    of a user are their own, or need the permission policy on the path."""
    return [
        public("POST", "/api/login", sessions.login),
        public("GET", "/api/session", sessions.session),
        public("PUT", "/api/users/change-password", sessions.change_password),
        guarded("GET", TOKENS, sessions.list_tokens, authenticated),
        guarded("DELETE", TOKENS, sessions.revoke_tokens, authenticated),
        guarded("POST", "/api/mfa/enable", mfa.enable, authenticated),
        guarded("POST", "/api/mfa/validate", mfa.validate, authenticated),
        public("POST", "/api/mfa/login", mfa.login),
        guarded("POST", "/api/mfa/disable", mfa.disable, authenticated),
        guarded("POST", "/api/mfa/regenerate/backupcodes", mfa.regenerate, authenticated),
    ]


MFA_STATE = WireObject[tuple[bool, bool]](
    None, [out("enabled", BOOLEAN, lambda state: state[0]), out("enforced", BOOLEAN, lambda state: state[1])]
)
SESSION = WireObject[tuple[Caller, bool, bool]](
    "Session",
    [
        out("username", STRING, lambda s: s[0].principal.username),
        out(
            "expiresAt",
            described(NULLABLE_STRING, "null when the caller came with Basic credentials"),
            lambda s: utc_millis(s[0].session.expires_at) if s[0].session else None,
        ),
        out(
            "permissions",
            array(ref("EffectivePermission")),
            lambda s: rep.effective_permissions(s[0].principal.permissions),
        ),
        one("mfa", MFA_STATE, lambda s: (s[1], s[2])),
    ],
)
MFA_URI = WireObject[str]("MfaUri", [out("uri", STRING, lambda uri: uri)])
BACKUP_CODES = WireObject[list[str]]("BackupCodes", [out("backupCodes", array(STRING), lambda codes: codes)])
LOGIN = WireObject[Any](
    "Login",
    [
        member("username", STRING, required=True),
        member("password", STRING, required=True),
        member(
            "expireTimeInHours",
            {
                "type": "number",
                "description": "Token lifetime; without a label at most the session lifetime (12 h default)",
            },
        ),
        member("label", described(NULLABLE_STRING, "Names a long-lived API token")),
    ],
)
CHANGE_PASSWORD = WireObject[Any](
    "ChangePassword", [member("password", STRING, required=True), member("newPassword", PASSWORD, required=True)]
)
OTP = WireObject[Any]("Otp", [member("otp", STRING, required=True)])
OTP_OR_BACKUP_CODE = WireObject[Any]("OtpOrBackupCode", [member("otp", STRING), member("backupCode", STRING)])
MFA_LOGIN = WireObject[Any](
    "MfaLogin",
    [
        member("username", STRING, required=True),
        member("otp", STRING),
        member("backupCode", STRING),
        member("secret", STRING, required=True),
    ],
    description="`otp` or `backupCode` is required as well",
)
WIRE_OBJECTS = (SESSION, MFA_URI, BACKUP_CODES, LOGIN, CHANGE_PASSWORD, OTP, OTP_OR_BACKUP_CODE, MFA_LOGIN)

_LOGIN = json_answer("A token, or the first step of an MFA login", ref("LoginAnswer"))
_CODES = json_answer("Fresh one-time backup codes (shown once)", BACKUP_CODES.use())
OPERATIONS = (
    operation("POST", "/api/login", "Log in with username and password", "session", {200: _LOGIN}, (401, 429),
              body=LOGIN.use(), public=True),
    operation("GET", "/api/session", "The caller's session", "session",
              {200: json_answer("The session", SESSION.use())}, (401, 429)),
    operation("PUT", "/api/users/change-password",
              "Change the caller's own password (403 when the current password is wrong)", "session", NO_CONTENT,
              (401, 403, 404, 429), body=CHANGE_PASSWORD.use()),
    operation("GET", TOKENS, "The user's tokens (fingerprints only, never the token)", "users",
              {200: json_answer("The tokens", array(ref("Token")))}, (*GUARDED, 404)),
    operation("DELETE", TOKENS, "Revoke the user's tokens (at once)", "users", NO_CONTENT, (*GUARDED, 404),
              parameters=[query_parameter("fingerprint", STRING, "Only this token; all of them if absent")]),
    operation("POST", "/api/mfa/enable", "Start MFA enrollment: a fresh TOTP secret as an otpauth URI", "mfa",
              {200: json_answer("The otpauth URI", MFA_URI.use())}, (401, 404, 409, 429)),
    operation("POST", "/api/mfa/validate", "Finish MFA enrollment with a first code (a wrong code is a 422)", "mfa",
              {200: _CODES}, (401, 404, 409, 429), body=OTP.use()),
    operation("POST", "/api/mfa/login",
              "Second login step: a TOTP code or a backup code with the `secret` of the first step", "mfa",
              {200: _LOGIN}, (401, 429), body=MFA_LOGIN.use(), public=True),
    operation("POST", "/api/mfa/disable", "Turn MFA off (with a current code or a backup code)", "mfa", NO_CONTENT,
              (401, 403, 404, 429), body=OTP_OR_BACKUP_CODE.use()),
    operation("POST", "/api/mfa/regenerate/backupcodes", "New backup codes (the old ones stop working)", "mfa",
              {200: _CODES}, (401, 403, 404, 429), body=OTP_OR_BACKUP_CODE.use()),
)  # fmt: skip
PATH_PARAMETERS = {TOKENS: [path_id("id", "Id of the user")]}


def _user_id(request: Request) -> int:
    return path_number(request, "id", 10**18 - 1, _no_such_user)


def _no_such_user(raw: str) -> NotFound:
    return NotFound(f"There is no user {raw}", entity="user")


class Sessions:
    def __init__(self, sessions: SessionService, auth: BasicAuthenticator, max_body_bytes: int) -> None:
        self._sessions = sessions
        self._auth = auth
        self._max_body_bytes = max_body_bytes

    async def login(self, request: Request) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        user = SESSION_FIELDS.required_text(body, "username")
        password = SESSION_FIELDS.required_text(body, "password")
        tenant, username = await self._auth.account_of(request, user)
        presented = PresentedCredentials(tenant, username, password, client_address(request))
        result = await self._sessions.login(presented, body.get("expireTimeInHours"), body.get("label"))
        return json_response(rep.LOGIN_ANSWER.render(result))

    async def session(self, request: Request) -> Response:
        caller = await self._auth.caller(request)
        enrolled, enforced = await self._sessions.mfa_status(caller.principal)
        return json_response(SESSION.render((caller, enrolled, enforced)))

    async def _authorized_for_user(self, request: Request, principal: Principal) -> int:
        """The user themself, or a caller the policy permits on this path (e.g. /api/users/# write)."""
        user_id = _user_id(request)
        if principal.user_id != user_id:
            principal.require_request(request.method, request.url.path)
        return user_id

    async def list_tokens(self, request: Request, principal: Principal) -> Response:
        user_id = await self._authorized_for_user(request, principal)
        tokens = await self._sessions.list_tokens(principal, user_id)
        return json_response([rep.token(token) for token in tokens])

    async def revoke_tokens(self, request: Request, principal: Principal) -> Response:
        user_id = await self._authorized_for_user(request, principal)
        token_id = query(request, "fingerprint") or query(request, "tokenId") or query(request, "id") or None
        revoked = await self._sessions.revoke_tokens(principal, user_id, token_id)
        if token_id is not None and revoked == 0:
            raise NotFound(f"There is no token {token_id} of user {user_id}", entity="token")
        return no_content()

    async def change_password(self, request: Request) -> Response:
        caller = await self._auth.caller(request)
        body = await read_json_object(request, self._max_body_bytes)
        password = SESSION_FIELDS.required_text(body, "password")
        new_password = SESSION_FIELDS.required_text(body, "newPassword")
        token_id = caller.session.token_id if caller.session else None
        await self._sessions.change_password(
            caller.principal, token_id, client_address(request), password, new_password
        )
        return no_content()


class Mfa:
    def __init__(self, mfa: MfaService, auth: BasicAuthenticator, max_body_bytes: int) -> None:
        self._mfa = mfa
        self._auth = auth
        self._max_body_bytes = max_body_bytes

    async def enable(self, _request: Request, principal: Principal) -> Response:
        return json_response(MFA_URI.render(await self._mfa.enable(principal)))

    async def validate(self, request: Request, principal: Principal) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        otp = SESSION_FIELDS.required_text(body, "otp")
        codes = await self._mfa.validate(principal, otp, client_address(request))
        return json_response(BACKUP_CODES.render(codes))

    async def login(self, request: Request) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        user = SESSION_FIELDS.required_text(body, "username")
        challenge = SESSION_FIELDS.required_text(body, "secret")
        otp, backup = SESSION_FIELDS.text(body, "otp"), SESSION_FIELDS.text(body, "backupCode")
        if otp is None and backup is None:
            raise InvalidInput("otp or backupCode is required", field="otp")
        tenant, username = await self._auth.account_of(request, user)
        result = await self._mfa.login(tenant, username, challenge, otp, backup, client_address(request))
        return json_response(rep.LOGIN_ANSWER.render(result))

    async def disable(self, request: Request, principal: Principal) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        otp, backup = SESSION_FIELDS.text(body, "otp"), SESSION_FIELDS.text(body, "backupCode")
        await self._mfa.disable(principal, otp, backup, client_address(request))
        return no_content()

    async def regenerate(self, request: Request, principal: Principal) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        otp, backup = SESSION_FIELDS.text(body, "otp"), SESSION_FIELDS.text(body, "backupCode")
        codes = await self._mfa.regenerate_backup_codes(principal, otp, backup, client_address(request))
        return json_response(BACKUP_CODES.render(codes))
