"""Console pages: the signed-in user's own account (linked from the header, outside the navigation).

Two-factor sign-in (set up, new backup codes, turn off with a code), the own password, the own
sessions and API tokens. Every signed-in user may use it: these are the user's own things, as
`/api/users/change-password`, `/api/mfa/*` and `/api/users/{own id}/tokens` are on the API.

A new API token is a sign-in with a label (the password, and the code when two-factor sign-in is on,
asked again), so a stolen console cookie alone cannot mint a long-lived token."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance.http.console.core import ENROLL, PREFIX, Console, Page, page
from admittance.http.console.signin import SESSION_LABEL
from admittance.http.params import whole_number
from admittance.identity.model import PresentedCredentials
from admittance.kernel.errors import PermissionDenied, RateLimited, Unauthenticated

ACCOUNT = PREFIX + "/account"
_MAX_SECRET = 1024
_ENTER_CODE = "Enter the code from your authenticator app, or a backup code."
_WRONG_CODE = "That code was not accepted. Use the current code from your app, or an unused backup code."
_DAYS = ((1, "1 day"), (7, "7 days"), (30, "30 days"), (90, "90 days"), (365, "1 year"))


def routes(console: Console) -> list[BaseRoute]:
    @page(console)
    async def account(current: Page) -> Response:
        principal = current.principal
        enrolled, enforced = await current.services.sessions.mfa_status(principal)
        tokens = await current.services.sessions.list_tokens(principal, principal.user_id)
        max_days = int(current.services.sessions.policy.token_max_hours // 24)
        return current.render(
            "account.html",
            title="Your account",
            enrolled=enrolled,
            enforced=enforced,
            tokens=tokens,
            current_session=current.session_id,
            console_label=SESSION_LABEL,
            lifetimes=[(str(days), text) for days, text in _DAYS if days <= max_days] or [("1", "1 day")],
            enroll_url=ENROLL,
        )

    @page(console)
    async def change_password(current: Page) -> Response:
        password, new = _secret(current, "password"), _secret(current, "new_password")
        if not password or not new:
            return current.redirect(ACCOUNT, ("error", "Enter your current password and the new one."))
        if new != _secret(current, "new_password_again"):
            return current.redirect(ACCOUNT, ("error", "The two new passwords are not the same."))
        try:
            revoked = await current.services.sessions.change_password(
                current.principal, current.session_id, current.source, password, new
            )
        except PermissionDenied as exc:
            return current.redirect(ACCOUNT, ("error", exc.message))
        ended = f" {revoked} other sessions and tokens were ended." if revoked else ""
        return current.redirect(ACCOUNT, f"Your password was changed.{ended}")

    @page(console)
    async def new_backup_codes(current: Page) -> Response:
        otp, backup = _code(current)
        if otp is None and backup is None:
            return current.redirect(ACCOUNT, ("error", _ENTER_CODE))
        try:
            codes = await current.services.mfa.regenerate_backup_codes(current.principal, otp, backup, current.source)
        except PermissionDenied:
            return current.redirect(ACCOUNT, ("error", _WRONG_CODE))
        return current.render("account_codes.html", title="Your new backup codes", codes=codes)

    @page(console)
    async def turn_off_mfa(current: Page) -> Response:
        otp, backup = _code(current)
        if otp is None and backup is None:
            return current.redirect(ACCOUNT, ("error", _ENTER_CODE))
        try:
            await current.services.mfa.disable(current.principal, otp, backup, current.source)
        except PermissionDenied:
            return current.redirect(ACCOUNT, ("error", _WRONG_CODE))
        _, enforced = await current.services.sessions.mfa_status(current.principal)
        if enforced:
            return current.redirect(
                ENROLL, ("info", "Two-factor sign-in was turned off. Your account requires it: set it up again now.")
            )
        return current.redirect(ACCOUNT, "Two-factor sign-in is off.")

    @page(console)
    async def create_token(current: Page) -> Response:
        label = current.field("label")
        if not label:
            return current.redirect(ACCOUNT, ("error", "Give the token a label, so that you recognise it later."))
        days = current.field("days")
        lifetime = whole_number(days, 1, 100_000)
        if lifetime is None:
            return current.redirect(ACCOUNT, ("error", "Choose how long the token lives."))
        password = _secret(current, "password")
        if not password:
            return current.redirect(ACCOUNT, ("error", "Enter your password to create a token."))
        principal = current.principal
        sessions, mfa = current.services.sessions, current.services.mfa
        presented = PresentedCredentials(principal.tenant_id, principal.username, password, current.source)
        try:
            result = await sessions.login(presented, lifetime * 24, label)
            if result.needs_mfa:
                otp, backup = _code(current)
                if otp is None and backup is None:
                    return current.redirect(ACCOUNT, ("error", _ENTER_CODE))
                assert result.challenge is not None
                result = await mfa.login(
                    principal.tenant_id, principal.username, result.challenge, otp, backup, current.source
                )
        except RateLimited:
            return current.redirect(ACCOUNT, ("error", "Too many attempts. Wait a little and try again."))
        except Unauthenticated:
            return current.redirect(ACCOUNT, ("error", "The password or the code was not right. No token was made."))
        assert result.token is not None
        assert result.expires_at is not None
        return current.render(
            "account_token.html", title="Your new API token", token=result.token, label=label, expires=result.expires_at
        )

    @page(console)
    async def revoke_token(current: Page) -> Response:
        token_id = current.field("token")
        if not token_id:
            return current.redirect(ACCOUNT, ("error", "Choose a token to revoke."))
        if token_id == current.session_id:
            return current.redirect(ACCOUNT, ("info", "That is this session: use Sign out to end it."))
        count = await current.services.sessions.revoke_tokens(current.principal, current.principal.user_id, token_id)
        if count == 0:
            return current.redirect(ACCOUNT, ("error", "That token had already ended."))
        return current.redirect(ACCOUNT, "The token was revoked.")

    return [
        Route(ACCOUNT, account, methods=["GET"]),
        Route(ACCOUNT + "/password", change_password, methods=["POST"]),
        Route(ACCOUNT + "/mfa/backup-codes", new_backup_codes, methods=["POST"]),
        Route(ACCOUNT + "/mfa/disable", turn_off_mfa, methods=["POST"]),
        Route(ACCOUNT + "/tokens", create_token, methods=["POST"]),
        Route(ACCOUNT + "/tokens/revoke", revoke_token, methods=["POST"]),
    ]


def _secret(current: Page, name: str) -> str:
    """A password field as typed (not stripped), bounded."""
    value = current.form.get(name) if current.form is not None else None
    return value if isinstance(value, str) and len(value) <= _MAX_SECRET else ""


def _code(current: Page) -> tuple[str | None, str | None]:
    """(TOTP code, backup code) from the form: six digits go as a code, anything else as a backup code."""
    value = current.field("code").replace(" ", "")[:_MAX_SECRET]
    if not value:
        return None, None
    return (value, None) if value.isascii() and value.isdecimal() and len(value) == 6 else (None, value)
