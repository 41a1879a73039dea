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
from starlette.routing import BaseRoute, Route

from admittance.http.basic_auth import client_address
from admittance.http.console.cookies import MfaPending
from admittance.http.console.core import (
    ENROLL,
    PREFIX,
    SIGN_IN,
    Console,
    Page,
    foreign_origin,
    local_path,
    message_of,
    page,
)
from admittance.identity.model import PresentedCredentials
from admittance.identity.sessions import LoginResult
from admittance.kernel.errors import AdmittanceError, InvalidInput, RateLimited, Unauthenticated

SESSION_LABEL = "console"
_MFA_STEP_SECONDS = 300
_MAX_FIELD = 1024


def routes(console: Console) -> list[BaseRoute]:
    def form_page(request: Request, template: str, status: int = 200, **context: object) -> Response:
        """A page with a form of the sign-in: its CSRF token is bound to a nonce cookie of the browser."""
        nonce = console.cookies.sign_in_nonce(request)
        fresh = nonce is None
        nonce = nonce or secrets.token_urlsafe(24)
        context.setdefault("title", "Sign in")
        response = console.render(request, template, status, csrf_token=console.cookies.sign_in_csrf(nonce), **context)
        if fresh:
            console.cookies.set_sign_in_nonce(response, nonce)
        return response

    def csrf_ok(request: Request, presented: object) -> bool:
        nonce = console.cookies.sign_in_nonce(request)
        if foreign_origin(request):
            return False
        return nonce is not None and console.cookies.same(
            presented if isinstance(presented, str) else None, console.cookies.sign_in_csrf(nonce)
        )

    async def sign_in_form(request: Request) -> Response:
        target = local_path(request.query_params.get("next"))
        cookie = console.cookies.session(request)
        if cookie is not None and not console.cookies.idle(cookie, int(console.services.clock.now().timestamp())):
            return console.redirect(target)
        return form_page(
            request, "sign_in.html", next=target, username="", error=None, insecure=_insecure(console, request)
        )

    async def sign_in(request: Request) -> Response:
        async with request.form() as form:
            fields = {key: form.get(key) for key in ("csrf_token", "username", "password", "next")}
        target = local_path(fields["next"] if isinstance(fields["next"], str) else None)
        username = fields["username"] if isinstance(fields["username"], str) else ""
        password = fields["password"] if isinstance(fields["password"], str) else ""

        def again(error: str, status: int) -> Response:
            return form_page(
                request,
                "sign_in.html",
                status,
                next=target,
                username=username[:_MAX_FIELD],
                error=error,
                insecure=_insecure(console, request),
            )

        if not csrf_ok(request, fields["csrf_token"]):
            return again("The sign-in form had expired. Please try again.", 403)
        if not username.strip() or not password or len(username) > _MAX_FIELD or len(password) > _MAX_FIELD:
            return again("Enter your user name and password.", 422)
        tenant, name = await console.auth.account_of(request, username.strip())
        presented = PresentedCredentials(tenant, name, password, client_address(request))
        try:
            result = await console.services.sessions.login(presented, None, SESSION_LABEL)
        except (Unauthenticated, RateLimited) as exc:
            return again(message_of(exc), 429 if isinstance(exc, RateLimited) else 401)
        if result.needs_mfa:
            assert result.challenge is not None
            response = console.redirect(f"{PREFIX}/sign-in/code?next={quote(target)}")
            console.cookies.set_mfa_pending(response, MfaPending(tenant, name, result.challenge), _MFA_STEP_SECONDS)
            return response
        return _signed_in(console, result, ENROLL if result.enforce_mfa_enrollment else target)

    async def code_form(request: Request) -> Response:
        if console.cookies.mfa_pending(request) is None:
            return console.redirect(SIGN_IN, ("info", "Sign in with your password first."))
        target = local_path(request.query_params.get("next"))
        return form_page(request, "sign_in_code.html", next=target, error=None)

    async def code(request: Request) -> Response:
        pending = console.cookies.mfa_pending(request)
        async with request.form() as form:
            fields = {key: form.get(key) for key in ("csrf_token", "code", "backup_code", "next")}
        target = local_path(fields["next"] if isinstance(fields["next"], str) else None)
        if pending is None:
            return console.redirect(SIGN_IN, ("info", "Sign in with your password first."))
        if not csrf_ok(request, fields["csrf_token"]):
            return form_page(
                request, "sign_in_code.html", 403, next=target, error="The form had expired. Please try again."
            )
        otp = fields["code"].strip() if isinstance(fields["code"], str) else ""
        backup = fields["backup_code"].strip() if isinstance(fields["backup_code"], str) else ""
        if not otp and not backup:
            return form_page(
                request,
                "sign_in_code.html",
                422,
                next=target,
                error="Enter the code from your authenticator app, or a backup code.",
            )
        try:
            result = await console.services.mfa.login(
                pending.tenant_id,
                pending.username,
                pending.challenge,
                otp or None,
                backup or None,
                client_address(request),
            )
        except (Unauthenticated, RateLimited) as exc:
            # The challenge is used up by any attempt: a wrong code starts the sign-in again.
            refused = console.redirect(f"{SIGN_IN}?next={quote(target)}", ("error", _code_refused(exc)))
            console.cookies.clear_mfa_pending(refused)
            return refused
        response = _signed_in(console, result, target)
        console.cookies.clear_mfa_pending(response)
        return response

    @page(console)
    async def sign_out(current: Page) -> Response:
        await current.services.sessions.revoke_tokens(current.principal, current.principal.user_id, current.session_id)
        response = current.redirect(SIGN_IN, ("info", "You are signed out."))
        current.end_session(response)
        return response

    @page(console)
    async def sign_out_everywhere(current: Page) -> Response:
        count = await current.services.sessions.revoke_tokens(current.principal, current.principal.user_id, None)
        response = current.redirect(
            SIGN_IN, ("info", f"You are signed out everywhere ({count} sessions and tokens ended).")
        )
        current.end_session(response)
        return response

    @page(console, enrollment=True)
    async def enroll_form(current: Page) -> Response:
        enrolled, enforced = await current.services.sessions.mfa_status(current.principal)
        if enrolled:
            return current.redirect(PREFIX + "/account", ("info", "Two-factor sign-in is already set up."))
        uri = await current.services.mfa.pending_enrollment(current.principal)
        return current.render(
            "enroll.html",
            title="Set up two-factor sign-in",
            qr_svg=_qr_svg(uri),
            manual_key=_secret_of(uri),
            uri=uri,
            enforced=enforced,
            error=None,
        )

    @page(console, enrollment=True)
    async def enroll(current: Page) -> Response:
        try:
            codes = await current.services.mfa.validate(current.principal, current.field("code"), current.source)
        except InvalidInput:
            uri = await current.services.mfa.pending_enrollment(current.principal)
            _, enforced = await current.services.sessions.mfa_status(current.principal)
            return current.render(
                "enroll.html",
                422,
                title="Set up two-factor sign-in",
                qr_svg=_qr_svg(uri),
                manual_key=_secret_of(uri),
                uri=uri,
                enforced=enforced,
                error="That code was not right. Check the clock of your device and try the next code.",
            )
        return current.render("backup_codes.html", title="Your backup codes", codes=codes)

    return [
        Route(SIGN_IN, sign_in_form, methods=["GET"]),
        Route(SIGN_IN, sign_in, methods=["POST"]),
        Route(SIGN_IN + "/code", code_form, methods=["GET"]),
        Route(SIGN_IN + "/code", code, methods=["POST"]),
        Route(PREFIX + "/sign-out", sign_out, methods=["POST"]),
        Route(PREFIX + "/sign-out-everywhere", sign_out_everywhere, methods=["POST"]),
        Route(ENROLL, enroll_form, methods=["GET"]),
        Route(ENROLL, enroll, methods=["POST"]),
    ]


def _signed_in(console: Console, result: LoginResult, target: str) -> Response:
    assert result.token is not None
    assert result.expires_at is not None
    now = int(console.services.clock.now().timestamp())
    response = console.redirect(target)
    console.cookies.set_session(response, result.token, now, max(1, int(result.expires_at.timestamp()) - now))
    return response


def _code_refused(error: AdmittanceError) -> str:
    if isinstance(error, RateLimited):
        return "Too many wrong codes. Wait a little, then sign in again."
    return "The code was not accepted. Sign in again and use the current code or a backup code."


def _insecure(console: Console, request: Request) -> bool:
    """Secure cookies over plain HTTP work only on localhost: warn instead of failing silently."""
    host = (request.url.hostname or "").lower()
    loopback = host in {"localhost", "127.0.0.1", "::1", "[::1]"} or host.endswith(".localhost")
    return console.cookies.secure and request.url.scheme != "https" and not loopback


def _qr_svg(uri: str) -> str:
    return str(segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff", title="QR code of the key"))


def _secret_of(uri: str) -> str:
    secret = parse_qs(urlsplit(uri).query).get("secret", [""])[0]
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
