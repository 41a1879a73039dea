"""Broker authentication decisions: may this MQTT client connect, publish to this topic, subscribe to these filters?

The decisions behind the VerneMQ-webhook-compatible endpoints (the seed's /api/broker/auth/*), made
by the same identity and permission model as every HTTP request:

* connect: a password (checked by IdentityService.authenticate: the same brute-force limits and the
  same uniform failure as everywhere), an API token (as the password, or as the MQTT 5 enhanced
  authentication method TOKEN_AUTH_METHOD), and/or a client certificate whose SHA-256 fingerprint is
  registered for the user. The user's grant types say which of these may be used
  (`[{"method": "password"|"certificate"|"token", "isRequired": bool}]`): a method not granted does
  not authenticate, and every method marked `isRequired` must have been presented and verified.
* publish: the user's mqtt `write` permissions must allow the final topic, that is the topic after
  the user's MQTT publish prefix is put in front of it (Connectware's mqttPublishPrefix).
* subscribe: each filter is granted only when it is a subset of a granted mqtt `read` filter.

Fail closed: every doubt (unknown user, disabled user, malformed input, an unavailable database) is
a denial. Secrets are never logged; user names and reasons are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from admittance.broker.model import (
    DENY,
    TOKEN_AUTH_METHOD,
    ConnectAttempt,
    ConnectDecision,
    EnhancedOutcome,
    GrantMethod,
    MqttUser,
    PublishDecision,
    SubscribeDecision,
    certificate_fingerprints,
    subscription_filter,
    valid_topic_name,
    with_prefix,
)
from admittance.broker.store import BrokerDirectory, PasswordChecker, TokenResolver
from admittance.identity.model import PresentedCredentials
from admittance.kernel.access import Context, Operation, Permission, validate_filter
from admittance.kernel.clock import Clock
from admittance.kernel.errors import AdmittanceError, InvalidInput, RateLimited, Unauthenticated

log = logging.getLogger("admittance.broker")


class _Denied(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_token(data: bytes | None) -> str:
    if not data:
        raise _Denied("no token in the authentication data")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Denied("the authentication data is not a token") from None


class BrokerAuthService:
    def __init__(
        self,
        directory: BrokerDirectory,
        passwords: PasswordChecker,
        clock: Clock,
        *,
        default_tenant: str,
        failure_delay_seconds: float,
        tokens: TokenResolver | None = None,
        token_prefix: str | None = None,
    ) -> None:
        self._directory = directory
        self._passwords = passwords
        self._clock = clock
        self._default_tenant = default_tenant
        self._delay = failure_delay_seconds
        self._tokens = tokens
        self._token_prefix = token_prefix

    def split_username(self, name: str) -> tuple[str, str]:
        """`tenant/user`, or a bare user name of the default tenant."""
        tenant, slash, username = name.partition("/")
        return (tenant, username) if slash else (self._default_tenant, name)

    # --- connect -------------------------------------------------------------------------------

    async def connect(self, attempt: ConnectAttempt) -> ConnectDecision:
        started = self._clock.monotonic()
        try:
            return await self._connect(attempt)
        except _Denied as denied:
            log.warning("MQTT connect refused for %r from %s: %s", attempt.username, attempt.source, denied.reason)
            await self._delay_since(started)
        except (Unauthenticated, RateLimited) as exc:  # counted, logged and delayed by the checker
            log.info("MQTT connect refused for %r from %s: %s", attempt.username, attempt.source, _why(exc))
        except AdmittanceError as exc:
            log.warning("MQTT connect refused for %r from %s: %s", attempt.username, attempt.source, _why(exc))
        return DENY

    async def _connect(self, attempt: ConnectAttempt) -> ConnectDecision:
        if attempt.auth_method is not None:
            if attempt.auth_method != TOKEN_AUTH_METHOD:
                raise _Denied(f"unknown authentication method {attempt.auth_method!r}")
            return await self._connect_with_token(attempt, decode_token(attempt.auth_data))
        if attempt.password is not None and self._is_token(attempt.password):
            return await self._connect_with_token(attempt, attempt.password)
        if attempt.username:
            tenant_id, username = self.split_username(attempt.username)
            named = True
        elif attempt.client_cert is not None and attempt.password is None:
            tenant_id, username = await self._certificate_holder(certificate_fingerprints(attempt.client_cert))
            named = False
        else:
            await self._passwords.reject_malformed(attempt.source, "MQTT connect without a user name")
            raise _Denied("no user name")  # not reached: reject_malformed raises
        verified: set[str] = set()
        if attempt.password is not None:
            # The uniform check: unknown users, wrong passwords and disabled users read the same.
            principal = await self._passwords.authenticate(
                PresentedCredentials(tenant_id, username, attempt.password, attempt.source)
            )
            if principal.mfa_enrollment_pending:  # as for tokens: nothing but the enrollment until it is done
                raise _Denied("MFA enrollment is enforced and not done")
            verified.add(GrantMethod.PASSWORD.value)
        user = await self._directory.mqtt_user(tenant_id, username)
        if user is None:
            raise _Denied("unknown user")
        if not user.enabled:
            raise _Denied("user disabled")
        if verified and not user.grants(GrantMethod.PASSWORD):
            raise _Denied("the password grant type is not allowed for this user")
        if attempt.client_cert is not None and user.grants(GrantMethod.CERTIFICATE):
            if not await self._directory.has_certificate(user.user_id, certificate_fingerprints(attempt.client_cert)):
                raise _Denied("the client certificate is not registered for this user")
            verified.add(GrantMethod.CERTIFICATE.value)
        return self._granted(user, verified, None if named else f"{user.tenant_id}/{user.username}")

    async def _connect_with_token(self, attempt: ConnectAttempt, token: str) -> ConnectDecision:
        user = await self._token_user(token, attempt.source)
        if attempt.username:
            if self.split_username(attempt.username) != (user.tenant_id, user.username):
                raise _Denied("the token belongs to another user")
            return self._granted(user, {GrantMethod.TOKEN.value}, None)
        return self._granted(user, {GrantMethod.TOKEN.value}, f"{user.tenant_id}/{user.username}")

    def _granted(self, user: MqttUser, verified: set[str], username: str | None) -> ConnectDecision:
        if not verified:
            raise _Denied("no credential the user's grant types allow")
        missing = user.required_methods - verified
        if missing:
            raise _Denied(f"required grant types not presented: {', '.join(sorted(missing))}")
        log.info("MQTT connect allowed for %s/%s (%s)", user.tenant_id, user.username, ", ".join(sorted(verified)))
        return ConnectDecision(True, username)

    async def _token_user(self, token: str, source: str) -> MqttUser:
        if self._tokens is None:
            raise _Denied("tokens are not available")
        principal = await self._tokens.principal_for_token(token, source)
        user = await self._directory.mqtt_user(principal.tenant_id, principal.username)
        if user is None or user.user_id != principal.user_id:
            raise _Denied("unknown user")
        if not user.enabled:
            raise _Denied("user disabled")
        if not user.grants(GrantMethod.TOKEN):
            raise _Denied("the token grant type is not allowed for this user")
        return user

    async def _certificate_holder(self, fingerprints: Sequence[str]) -> tuple[str, str]:
        holders = await self._directory.certificate_holders(fingerprints)
        if len(holders) != 1:
            raise _Denied("the client certificate names no single user" if holders else "unknown client certificate")
        return holders[0]

    def _is_token(self, secret: str) -> bool:
        return bool(self._token_prefix) and secret.startswith(self._token_prefix or "")

    # --- enhanced authentication (MQTT 5 AUTH) ----------------------------------------------------

    async def enhanced(
        self, username: str | None, method: str | None, data: bytes | None, source: str
    ) -> EnhancedOutcome:
        if method != TOKEN_AUTH_METHOD:
            log.warning("MQTT enhanced authentication refused for %r: unknown method %r", username, method)
            return EnhancedOutcome.BAD_METHOD
        started = self._clock.monotonic()
        try:
            user = await self._token_user(decode_token(data), source)
            if username and self.split_username(username) != (user.tenant_id, user.username):
                raise _Denied("the token belongs to another user")
            missing = user.required_methods - {GrantMethod.TOKEN.value}
            if missing:
                raise _Denied(f"required grant types not presented: {', '.join(sorted(missing))}")
            return EnhancedOutcome.OK
        except _Denied as denied:
            log.warning("MQTT enhanced authentication refused for %r: %s", username, denied.reason)
            await self._delay_since(started)
        except AdmittanceError as exc:
            log.info("MQTT enhanced authentication refused for %r: %s", username, _why(exc))
        return EnhancedOutcome.DENIED

    # --- authorization -------------------------------------------------------------------------

    async def publish(self, username: str | None, topic: str) -> PublishDecision:
        try:
            user = await self._active_user(username)
            if user is None or not valid_topic_name(topic):
                return PublishDecision(False)
            final = with_prefix(user.publish_prefix, topic)
            if not valid_topic_name(final) or not user.principal().permits(Context.MQTT, Operation.WRITE, final):
                log.info("MQTT publish refused for %s/%s", user.tenant_id, user.username)
                return PublishDecision(False)
            return PublishDecision(True, final if user.publish_prefix else None)
        except AdmittanceError as exc:
            log.warning("MQTT publish refused for %r: %s", username, _why(exc))
            return PublishDecision(False)

    async def subscribe(self, username: str | None, filters: Sequence[str]) -> SubscribeDecision:
        try:
            user = await self._active_user(username)
        except AdmittanceError as exc:
            log.warning("MQTT subscribe refused for %r: %s", username, _why(exc))
            user = None
        if user is None:
            return SubscribeDecision(tuple(False for _ in filters))
        grants = tuple(p for p in user.principal().permissions if p.context is Context.MQTT)
        return SubscribeDecision(tuple(_may_read(grants, topic) for topic in filters))

    async def _active_user(self, username: str | None) -> MqttUser | None:
        if not username:
            return None
        tenant_id, name = self.split_username(username)
        user = await self._directory.mqtt_user(tenant_id, name)
        return user if user is not None and user.enabled else None

    async def _delay_since(self, started: float) -> None:
        remaining = self._delay - (self._clock.monotonic() - started)
        if remaining > 0:
            await asyncio.sleep(remaining)


def _may_read(grants: Sequence[Permission], topic: str) -> bool:
    wanted = subscription_filter(topic)
    if not wanted or "\x00" in wanted:
        return False
    try:
        validate_filter(wanted)
    except InvalidInput:
        return False
    required = Permission(Context.MQTT, Operation.READ, wanted)
    return any(grant.covers(required) for grant in grants)


def _why(exc: AdmittanceError) -> str:
    return exc.reason if isinstance(exc, Unauthenticated) else type(exc).__name__
