"""Console pages: the signed-in user's own account (linked from the header, outside the navigation).

Two-factor sign-in (set up, new backup codes, turn off with a code), the own password, the own
sessions and API tokens. Every signed-in user may use it: these are the user's own things, as
`/api/users/change-password`, `/api/mfa/*` and `/api/users/{own id}/tokens` are on the API.

A new API token is a sign-in with a label (the password, and the code when two-factor sign-in is on,
asked again), so a stolen console cookie alone cannot mint a long-lived token."""

from __future__ import annotations

from starlette.responses import Response

from admittance.http.console.core import ENROLL, PREFIX
from admittance.http.console.page import Page, PageRoute
from admittance.http.console.signin import SESSION_LABEL
from admittance.http.params import whole_number
from admittance.identity.mfa import MfaService
from admittance.identity.model import PresentedCredentials
from admittance.identity.sessions import LoginResult, SessionService
from admittance.kernel.errors import PermissionDenied, RateLimited, Unauthenticated

ACCOUNT = PREFIX + "/account"
_MAX_SECRET = 1024
_MOST_DAYS = 100_000  # the service caps a token's life by its policy; this only bounds the number
_ENTER_CODE = "Enter the code from your authenticator app, or a backup code."
_WRONG_CODE = "That code was not accepted. Use the current code from your app, or an unused backup code."
_DAYS = ((1, "1 day"), (7, "7 days"), (30, "30 days"), (90, "90 days"), (365, "1 year"))


def routes(pages: AccountPages) -> list[PageRoute]:
    return [
        PageRoute("GET", ACCOUNT, pages.account),
        PageRoute("POST", ACCOUNT + "/password", pages.change_password),
        PageRoute("POST", ACCOUNT + "/mfa/backup-codes", pages.new_backup_codes),
        PageRoute("POST", ACCOUNT + "/mfa/disable", pages.turn_off_mfa),
        PageRoute("POST", ACCOUNT + "/tokens", pages.create_token),
        PageRoute("POST", ACCOUNT + "/tokens/revoke", pages.revoke_token),
    ]


class AccountPages:
    """The own account: the sessions service (password, sessions and tokens, MFA state) and the MFA
    service (backup codes, turning it off, the code of a new token)."""

    def __init__(self, sessions: SessionService, mfa: MfaService) -> None:
        self._sessions = sessions
        self._mfa = mfa

    async def account(self, current: Page) -> Response:
        principal = current.principal
        enrolled, enforced = await self._sessions.mfa_status(principal)
        tokens = await self._sessions.list_tokens(principal, principal.user_id)
        max_days = int(self._sessions.policy.token_max_hours // 24)
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

    async def change_password(self, current: Page) -> Response:
        password, new = current.secret("password", _MAX_SECRET), current.secret("new_password", _MAX_SECRET)
        if not password or not new:
            return current.redirect(ACCOUNT, ("error", "Enter your current password and the new one."))
        if new != current.secret("new_password_again", _MAX_SECRET):
            return current.redirect(ACCOUNT, ("error", "The two new passwords are not the same."))
        try:
            revoked = await self._sessions.change_password(
                current.principal, current.session_id, current.source, password, new
            )
        except PermissionDenied as exc:
            return current.redirect(ACCOUNT, ("error", exc.message))
        ended = f" {revoked} other sessions and tokens were ended." if revoked else ""
        return current.redirect(ACCOUNT, f"Your password was changed.{ended}")

    async def new_backup_codes(self, current: Page) -> Response:
        otp, backup = _code(current)
        if otp is None and backup is None:
            return current.redirect(ACCOUNT, ("error", _ENTER_CODE))
        try:
            codes = await self._mfa.regenerate_backup_codes(current.principal, otp, backup, current.source)
        except PermissionDenied:
            return current.redirect(ACCOUNT, ("error", _WRONG_CODE))
        return current.render("account_codes.html", title="Your new backup codes", codes=codes)

    async def turn_off_mfa(self, current: Page) -> Response:
        otp, backup = _code(current)
        if otp is None and backup is None:
            return current.redirect(ACCOUNT, ("error", _ENTER_CODE))
        try:
            await self._mfa.disable(current.principal, otp, backup, current.source)
        except PermissionDenied:
            return current.redirect(ACCOUNT, ("error", _WRONG_CODE))
        _, enforced = await self._sessions.mfa_status(current.principal)
        if enforced:
            return current.redirect(
                ENROLL, ("info", "Two-factor sign-in was turned off. Your account requires it: set it up again now.")
            )
        return current.redirect(ACCOUNT, "Two-factor sign-in is off.")

    async def create_token(self, current: Page) -> Response:
        label = current.field("label")
        if not label:
            return current.redirect(ACCOUNT, ("error", "Give the token a label, so that you recognise it later."))
        days = whole_number(current.field("days"), 1, _MOST_DAYS)
        if days is None:
            return current.redirect(ACCOUNT, ("error", "Choose how long the token lives."))
        password = current.secret("password", _MAX_SECRET)
        if not password:
            return current.redirect(ACCOUNT, ("error", "Enter your password to create a token."))
        try:
            result = await self._sign_in_again(current, password, days, label)
        except RateLimited:
            return current.redirect(ACCOUNT, ("error", "Too many attempts. Wait a little and try again."))
        except Unauthenticated:
            return current.redirect(ACCOUNT, ("error", "The password or the code was not right. No token was made."))
        if result is None:
            return current.redirect(ACCOUNT, ("error", _ENTER_CODE))
        assert result.token is not None
        assert result.expires_at is not None
        return current.render(
            "account_token.html", title="Your new API token", token=result.token, label=label, expires=result.expires_at
        )

    async def _sign_in_again(self, current: Page, password: str, days: int, label: str) -> LoginResult | None:
        """A sign-in with the token's label and lifetime: the password, then the code when two-factor
        sign-in is on (None: the code is missing)."""
        principal = current.principal
        presented = PresentedCredentials(principal.tenant_id, principal.username, password, current.source)
        result = await self._sessions.login(presented, days * 24, label)
        if not result.needs_mfa:
            return result
        otp, backup = _code(current)
        if otp is None and backup is None:
            return None
        assert result.challenge is not None
        return await self._mfa.login(
            principal.tenant_id, principal.username, result.challenge, otp, backup, current.source
        )

    async def revoke_token(self, current: Page) -> Response:
        token_id = current.field("token")
        if not token_id:
            return current.redirect(ACCOUNT, ("error", "Choose a token to revoke."))
        if token_id == current.session_id:
            return current.redirect(ACCOUNT, ("info", "That is this session: use Sign out to end it."))
        count = await self._sessions.revoke_tokens(current.principal, current.principal.user_id, token_id)
        if count == 0:
            return current.redirect(ACCOUNT, ("error", "That token had already ended."))
        return current.redirect(ACCOUNT, "The token was revoked.")


def _code(current: Page) -> tuple[str | None, str | None]:
    """(TOTP code, backup code) from the form: six digits go as a code, anything else as a backup code."""
    value = current.field("code").replace(" ", "")[:_MAX_SECRET]
    if not value:
        return None, None
    return (value, None) if value.isascii() and value.isdecimal() and len(value) == 6 else (None, value)
