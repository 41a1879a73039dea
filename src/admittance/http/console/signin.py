"""Signing in and out of the console: password, then a TOTP or backup code when enrolled, and forced
enrollment (QR code and manual key) when the account requires it. The session is an ordinary
session token of the identity service (label "console"), so revoking tokens ends console sessions
too, and every failure takes the same path (one answer, same delay, lockouts, audit) as on the API."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, quote, urlsplit

import segno
from starlette.requests import Request
from starlette.responses import Response

from admittance.http.basic_auth import BasicAuthenticator, client_address
from admittance.http.console.cookies import MfaPending
from admittance.http.console.core import ENROLL, PREFIX, SIGN_IN, Console, local_path, message_of
from admittance.http.console.page import ConsoleRoute, OpenRoute, Page, PageRoute, foreign_origin
from admittance.identity.mfa import MfaService
from admittance.identity.model import PresentedCredentials
from admittance.identity.sessions import LoginResult, SessionService
from admittance.kernel.errors import AdmittanceError, InvalidInput, RateLimited, Unauthenticated

SESSION_LABEL = "console"
CODE = SIGN_IN + "/code"
_MFA_STEP_SECONDS = 300
_MAX_FIELD = 1024


def routes(sign_in: SignInPages, session: SessionPages) -> list[ConsoleRoute]:
    return [
        OpenRoute("GET", SIGN_IN, sign_in.sign_in_form),
        OpenRoute("POST", SIGN_IN, sign_in.sign_in),
        OpenRoute("GET", CODE, sign_in.code_form),
        OpenRoute("POST", CODE, sign_in.code),
        PageRoute("POST", PREFIX + "/sign-out", session.sign_out),
        PageRoute("POST", PREFIX + "/sign-out-everywhere", session.sign_out_everywhere),
        PageRoute("GET", ENROLL, session.enroll_form, enrollment=True),
        PageRoute("POST", ENROLL, session.enroll, enrollment=True),
    ]


class SignInPages:
    """The sign-in forms, for a visitor who is not signed in: the password (through the sessions
    service, the account named as for Basic authentication) and then the code (the MFA service)."""

    def __init__(
        self, console: Console, sessions: SessionService, mfa: MfaService, accounts: BasicAuthenticator
    ) -> None:
        self._console = console
        self._sessions = sessions
        self._mfa = mfa
        self._accounts = accounts

    async def sign_in_form(self, request: Request) -> Response:
        target = local_path(request.query_params.get("next"))
        cookie = self._console.cookies.session(request)
        if cookie is not None and not self._console.cookies.idle(cookie, self._console.now()):
            return self._console.redirect(target)
        return self._password_page(request, 200, target, "", None)

    async def sign_in(self, request: Request) -> Response:
        fields = await _fields(request, "csrf_token", "username", "password", "next")
        target = local_path(fields["next"])
        username, password = fields["username"], fields["password"]
        if not self._csrf_ok(request, fields["csrf_token"]):
            return self._password_page(
                request, 403, target, username, "The sign-in form had expired. Please try again."
            )
        if not username.strip() or not password or len(username) > _MAX_FIELD or len(password) > _MAX_FIELD:
            return self._password_page(request, 422, target, username, "Enter your user name and password.")
        tenant, name = await self._accounts.account_of(request, username.strip())
        presented = PresentedCredentials(tenant, name, password, client_address(request))
        try:
            result = await self._sessions.login(presented, None, SESSION_LABEL)
        except (Unauthenticated, RateLimited) as exc:
            status = 429 if isinstance(exc, RateLimited) else 401
            return self._password_page(request, status, target, username, message_of(exc))
        if result.needs_mfa:
            assert result.challenge is not None
            response = self._console.redirect(f"{CODE}?next={quote(target)}")
            self._console.cookies.set_mfa_pending(
                response, MfaPending(tenant, name, result.challenge), _MFA_STEP_SECONDS
            )
            return response
        return self._signed_in(result, ENROLL if result.enforce_mfa_enrollment else target)

    async def code_form(self, request: Request) -> Response:
        if self._console.cookies.mfa_pending(request) is None:
            return self._console.redirect(SIGN_IN, ("info", "Sign in with your password first."))
        return self._code_page(request, 200, local_path(request.query_params.get("next")), None)

    async def code(self, request: Request) -> Response:
        pending = self._console.cookies.mfa_pending(request)
        fields = await _fields(request, "csrf_token", "code", "backup_code", "next")
        target = local_path(fields["next"])
        if pending is None:
            return self._console.redirect(SIGN_IN, ("info", "Sign in with your password first."))
        if not self._csrf_ok(request, fields["csrf_token"]):
            return self._code_page(request, 403, target, "The form had expired. Please try again.")
        otp, backup = fields["code"].strip(), fields["backup_code"].strip()
        if not otp and not backup:
            return self._code_page(
                request, 422, target, "Enter the code from your authenticator app, or a backup code."
            )
        try:
            result = await self._mfa.login(
                pending.tenant_id,
                pending.username,
                pending.challenge,
                otp or None,
                backup or None,
                client_address(request),
            )
        except (Unauthenticated, RateLimited) as exc:
            # The challenge is used up by any attempt: a wrong code starts the sign-in again.
            refused = self._console.redirect(f"{SIGN_IN}?next={quote(target)}", ("error", _code_refused(exc)))
            self._console.cookies.clear_mfa_pending(refused)
            return refused
        response = self._signed_in(result, target)
        self._console.cookies.clear_mfa_pending(response)
        return response

    def _password_page(self, request: Request, status: int, target: str, username: str, error: str | None) -> Response:
        return self._form_page(
            request,
            "sign_in.html",
            status,
            next=target,
            username=username[:_MAX_FIELD],
            error=error,
            insecure=self._insecure(request),
        )

    def _code_page(self, request: Request, status: int, target: str, error: str | None) -> Response:
        return self._form_page(request, "sign_in_code.html", status, next=target, error=error)

    def _form_page(self, request: Request, template: str, status: int, **context: object) -> Response:
        """A page with a form of the sign-in: its CSRF token is bound to a nonce cookie of the browser."""
        cookies = self._console.cookies
        nonce = cookies.sign_in_nonce(request)
        fresh = nonce is None
        nonce = nonce or secrets.token_urlsafe(24)
        context.setdefault("title", "Sign in")
        response = self._console.render(request, template, status, csrf_token=cookies.sign_in_csrf(nonce), **context)
        if fresh:
            cookies.set_sign_in_nonce(response, nonce)
        return response

    def _csrf_ok(self, request: Request, presented: str) -> bool:
        cookies = self._console.cookies
        nonce = cookies.sign_in_nonce(request)
        if foreign_origin(request):
            return False
        return nonce is not None and cookies.same(presented or None, cookies.sign_in_csrf(nonce))

    def _signed_in(self, result: LoginResult, target: str) -> Response:
        assert result.token is not None
        assert result.expires_at is not None
        now = self._console.now()
        response = self._console.redirect(target)
        lifetime = max(1, int(result.expires_at.timestamp()) - now)
        self._console.cookies.set_session(response, result.token, now, lifetime)
        return response

    def _insecure(self, request: Request) -> bool:
        """Secure cookies over plain HTTP work only on localhost: warn instead of failing silently."""
        host = (request.url.hostname or "").lower()
        loopback = host in {"localhost", "127.0.0.1", "::1", "[::1]"} or host.endswith(".localhost")
        return self._console.cookies.secure and request.url.scheme != "https" and not loopback


class SessionPages:
    """The signed-in user's session: signing out (here or everywhere) and the forced MFA enrollment."""

    def __init__(self, sessions: SessionService, mfa: MfaService) -> None:
        self._sessions = sessions
        self._mfa = mfa

    async def sign_out(self, current: Page) -> Response:
        await self._sessions.revoke_tokens(current.principal, current.principal.user_id, current.session_id)
        response = current.redirect(SIGN_IN, ("info", "You are signed out."))
        current.end_session(response)
        return response

    async def sign_out_everywhere(self, current: Page) -> Response:
        count = await self._sessions.revoke_tokens(current.principal, current.principal.user_id, None)
        response = current.redirect(
            SIGN_IN, ("info", f"You are signed out everywhere ({count} sessions and tokens ended).")
        )
        current.end_session(response)
        return response

    async def enroll_form(self, current: Page) -> Response:
        enrolled, enforced = await self._sessions.mfa_status(current.principal)
        if enrolled:
            return current.redirect(PREFIX + "/account", ("info", "Two-factor sign-in is already set up."))
        return await self._enroll_page(current, 200, enforced, None)

    async def enroll(self, current: Page) -> Response:
        try:
            codes = await self._mfa.validate(current.principal, current.field("code"), current.source)
        except InvalidInput:
            _, enforced = await self._sessions.mfa_status(current.principal)
            error = "That code was not right. Check the clock of your device and try the next code."
            return await self._enroll_page(current, 422, enforced, error)
        return current.render("backup_codes.html", title="Your backup codes", codes=codes)

    async def _enroll_page(self, current: Page, status: int, enforced: bool, error: str | None) -> Response:
        """The pending key (the same one on a reload) as a QR code and for typing in."""
        uri = await self._mfa.pending_enrollment(current.principal)
        return current.render(
            "enroll.html",
            status,
            title="Set up two-factor sign-in",
            qr_svg=_qr_svg(uri),
            manual_key=_secret_of(uri),
            uri=uri,
            enforced=enforced,
            error=error,
        )


async def _fields(request: Request, *names: str) -> dict[str, str]:
    """Text fields of a sign-in form ('' when absent or not text)."""
    async with request.form() as form:
        values = {name: form.get(name) for name in names}
    return {name: value if isinstance(value, str) else "" for name, value in values.items()}


def _code_refused(error: AdmittanceError) -> str:
    if isinstance(error, RateLimited):
        return "Too many wrong codes. Wait a little, then sign in again."
    return "The code was not accepted. Sign in again and use the current code or a backup code."


def _qr_svg(uri: str) -> str:
    return str(segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff", title="QR code of the key"))


def _secret_of(uri: str) -> str:
    secret = parse_qs(urlsplit(uri).query).get("secret", [""])[0]
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
