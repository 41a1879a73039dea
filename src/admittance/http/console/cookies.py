"""The console's cookies: the signed-in session (an `adm_` session token and the time of the last
activity, signed with the server key so that the idle timeout cannot be stretched by the browser),
the pre-sign-in nonce that CSRF-protects the sign-in forms, the pending MFA step, and flash messages.

Every cookie is HttpOnly and SameSite=Strict, and Secure unless `console_insecure_cookies` is set.
With Secure on, names carry the `__Host-` prefix: the browser then refuses them from a subdomain or
for another path, so a sibling host cannot plant or shadow them (cookie tossing)."""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response

from admittance.kernel.secrets import Pepper

_SESSION = "admittance-session"
_SIGN_IN = "admittance-sign-in"
_MFA = "admittance-mfa"
_FLASH = "admittance-flash"
_PURPOSE = "console-cookie"
_CSRF_PURPOSE = "console-csrf"


@dataclass(frozen=True, slots=True)
class SessionCookie:
    token: str
    last_active: int  # unix seconds of the last request that was not a background refresh


@dataclass(frozen=True, slots=True)
class MfaPending:
    tenant_id: str
    username: str
    challenge: str


class ConsoleCookies:
    def __init__(self, pepper: Pepper, *, secure: bool, idle_seconds: int) -> None:
        self._pepper = pepper
        self.secure = secure
        self.idle_seconds = idle_seconds
        prefix = "__Host-" if secure else ""
        self._names = {name: prefix + name for name in (_SESSION, _SIGN_IN, _MFA, _FLASH)}

    # -- signing ---------------------------------------------------------------------------------

    def _sign(self, payload: object) -> str:
        body = base64.urlsafe_b64encode(orjson.dumps(payload)).decode("ascii").rstrip("=")
        return f"{body}.{self._pepper.digest(_PURPOSE, body)}"

    def _open(self, value: str | None) -> object:
        if not value or value.count(".") != 1 or len(value) > 4096:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self._pepper.digest(_PURPOSE, body)):
            return None
        try:
            return orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, orjson.JSONDecodeError):
            return None

    def _set(self, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(
            self._names[name], value, max_age=max_age, path="/", secure=self.secure, httponly=True, samesite="strict"
        )

    def _clear(self, response: Response, name: str) -> None:
        response.delete_cookie(self._names[name], path="/", secure=self.secure, httponly=True, samesite="strict")

    def _read(self, request: Request, name: str) -> object:
        return self._open(request.cookies.get(self._names[name]))

    # -- the session -----------------------------------------------------------------------------

    def session(self, request: Request) -> SessionCookie | None:
        opened = self._read(request, _SESSION)
        if not isinstance(opened, list) or len(opened) != 2:
            return None
        token, last_active = opened
        if not isinstance(token, str) or not isinstance(last_active, int):
            return None
        return SessionCookie(token, last_active)

    def set_session(self, response: Response, token: str, now: int, lifetime_seconds: int) -> None:
        self._set(response, _SESSION, self._sign([token, now]), lifetime_seconds)

    def clear_session(self, response: Response) -> None:
        self._clear(response, _SESSION)
        self._clear(response, _MFA)

    def idle(self, cookie: SessionCookie, now: int) -> bool:
        return now - cookie.last_active > self.idle_seconds

    # -- CSRF ------------------------------------------------------------------------------------

    def csrf_token(self, session_id: str) -> str:
        """The synchronizer token of a signed-in session: unguessable without the server key."""
        return self._pepper.digest(_CSRF_PURPOSE, "session:" + session_id)

    def sign_in_nonce(self, request: Request) -> str | None:
        value = request.cookies.get(self._names[_SIGN_IN])
        return value if value and len(value) <= 100 else None

    def set_sign_in_nonce(self, response: Response, nonce: str) -> None:
        self._set(response, _SIGN_IN, nonce, None)

    def sign_in_csrf(self, nonce: str) -> str:
        return self._pepper.digest(_CSRF_PURPOSE, "sign-in:" + nonce)

    @staticmethod
    def same(presented: str | None, expected: str) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())

    # -- the MFA step of a sign-in -----------------------------------------------------------------

    def mfa_pending(self, request: Request) -> MfaPending | None:
        opened = self._read(request, _MFA)
        if not isinstance(opened, list) or len(opened) != 3 or not all(isinstance(v, str) for v in opened):
            return None
        return MfaPending(*opened)

    def set_mfa_pending(self, response: Response, pending: MfaPending, max_age: int) -> None:
        self._set(response, _MFA, self._sign([pending.tenant_id, pending.username, pending.challenge]), max_age)

    def clear_mfa_pending(self, response: Response) -> None:
        self._clear(response, _MFA)

    # -- flash messages ----------------------------------------------------------------------------

    def flash(self, response: Response, kind: str, text: str) -> None:
        self._set(response, _FLASH, self._sign([kind, text[:500]]), 120)

    def take_flash(self, request: Request, response: Response) -> tuple[str, str] | None:
        if self._names[_FLASH] not in request.cookies:
            return None
        self._clear(response, _FLASH)
        opened = self._read(request, _FLASH)
        if isinstance(opened, list) and len(opened) == 2 and all(isinstance(v, str) for v in opened):
            return opened[0], opened[1]
        return None
