"""Broker authentication decisions: may this MQTT client connect, publish to this topic, subscribe to
these filters, receive this message? The one decision core every broker adapter translates: the
VerneMQ webhooks (Connectware's /api/broker/auth/*), RabbitMQ's HTTP backend, mosquitto-go-auth's and
EMQX's HTTP protocols (http/broker/), and what the Mosquitto push keeps in the broker (`topic_grants`).
The same identity and permission model decides as for every HTTP request:

* connect: a password (the Authenticator's check: the same brute-force limits and the same uniform
  failure as everywhere, with its proof remembered by the LoginCache so that a reconnect storm costs
  no argon2id), an API token (as the password, or as the MQTT 5 enhanced authentication method
  TOKEN_AUTH_METHOD), a client certificate the broker forwards (one we issued, unexpired and
  unrevoked, or one registered for the user), or the common name of a certificate the broker verified
  itself (`certificate_cn`: whoever holds a valid certificate issued to that name). The user's grant
  types say which of these may be used (`[{"method": "password"|"certificate"|"token", "isRequired":
  bool}]`): a method not granted does not authenticate, and every method marked `isRequired` must
  have been presented and verified. A device (a device user, an nRF claimed device) must use its
  device id as its client id.
* publish: the subject's mqtt `write` permissions must allow the final topic, that is the topic after
  the user's MQTT publish prefix is put in front of it (Connectware's mqttPublishPrefix) by a broker
  that can rewrite topics; a broker that cannot sees the final topic from the client itself.
* subscribe: each filter is granted only when it is a subset of a granted mqtt `read` filter;
  receive: a granted `read` filter matches the topic.
* a device's own topics are part of its permissions (broker/model.py: Cumulocity's SmartREST topics
  with its device id as the last level).

Fail closed: every doubt (unknown user, disabled user, malformed input, an unavailable database) is
a denial. Every subject is read fresh for every decision (a subject that can authenticate only by a
certificate must still hold a valid one). Secrets are never logged; user names and reasons are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from admittance.broker.cache import LoginCache
from admittance.broker.model import (
    DENY,
    TOKEN_AUTH_METHOD,
    ConnectAttempt,
    ConnectDecision,
    EnhancedOutcome,
    GrantMethod,
    MqttLogin,
    MqttUser,
    PublishDecision,
    SubjectKind,
    SubscribeDecision,
    certificate_fingerprints,
    subscription_filter,
    valid_topic_name,
    with_prefix,
)
from admittance.broker.store import BrokerDirectory, ContactRecorder, PasswordChecker, TokenResolver
from admittance.identity.model import Door, PresentedCredentials
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
        logins: LoginCache | None = None,
        contacts: ContactRecorder | None = None,
    ) -> None:
        self._directory = directory
        self._passwords = passwords
        self._clock = clock
        self._default_tenant = default_tenant
        self._delay = failure_delay_seconds
        self._tokens = tokens
        self._token_prefix = token_prefix
        self.logins = logins if logins is not None else LoginCache(clock)
        self._contacts = contacts

    def split_username(self, name: str) -> tuple[str, str]:
        """`tenant/user`, or a bare user name of the default tenant."""
        tenant, slash, username = name.partition("/")
        return (tenant, username) if slash else (self._default_tenant, name)

    # --- connect -------------------------------------------------------------------------------

    async def connect(self, attempt: ConnectAttempt, door: Door = Door.VERNEMQ) -> ConnectDecision:
        """May this client connect? `door` names the adapter asking (recorded as the subject's last contact)."""
        started = self._clock.monotonic()
        try:
            decision = await self._connect(attempt)
        except _Denied as denied:
            log.warning("MQTT connect refused for %r from %s: %s", attempt.username, attempt.source, denied.reason)
            await self._delay_since(started)
        except (Unauthenticated, RateLimited) as exc:  # counted, logged and delayed by the checker
            log.info("MQTT connect refused for %r from %s: %s", attempt.username, attempt.source, _why(exc))
        except AdmittanceError as exc:
            log.warning("MQTT connect refused for %r from %s: %s", attempt.username, attempt.source, _why(exc))
        else:
            subject = decision.subject
            if subject is not None and self._contacts is not None:
                self._contacts.seen(subject.tenant_id, subject.username, door, attempt.peer_addr)
            return decision
        return DENY

    async def _connect(self, attempt: ConnectAttempt) -> ConnectDecision:
        if attempt.auth_method is not None:
            if attempt.auth_method != TOKEN_AUTH_METHOD:
                raise _Denied(f"unknown authentication method {attempt.auth_method!r}")
            return await self._connect_with_token(attempt, decode_token(attempt.auth_data))
        if attempt.password is not None and self._is_token(attempt.password):
            return await self._connect_with_token(attempt, attempt.password)
        if attempt.certificate_cn is not None and attempt.password is None:
            return await self._connect_with_common_name(attempt, attempt.certificate_cn)
        if attempt.username:
            tenant_id, username = self.split_username(attempt.username)
            named = True
        elif attempt.client_cert is not None and attempt.password is None:
            owner = await self._certificate_owner(certificate_fingerprints(attempt.client_cert))
            tenant_id, username = owner.tenant_id, owner.username
            named = False
        else:
            await self._passwords.reject_malformed(attempt.source, "MQTT connect without a user name")
        verified: set[str] = set()
        if attempt.password is not None:
            login = await self._directory.login(tenant_id, username)
            await self._check_password(
                PresentedCredentials(tenant_id, username, attempt.password, attempt.source), login
            )
            user: MqttUser | None = login.user if login is not None else None
            verified.add(GrantMethod.PASSWORD.value)
        else:
            user = await self._subject(tenant_id, username)
        if user is None:
            raise _Denied("unknown user")
        if not user.enabled:
            raise _Denied("user disabled")
        if verified and not user.grants(GrantMethod.PASSWORD):
            raise _Denied("the password grant type is not allowed for this user")
        if attempt.client_cert is not None and user.grants(GrantMethod.CERTIFICATE):
            if not await self._directory.has_certificate(user, certificate_fingerprints(attempt.client_cert)):
                raise _Denied("the client certificate is not registered for this user")
            verified.add(GrantMethod.CERTIFICATE.value)
        return self._granted(user, verified, None if named else user.qualified_name, attempt.client_id)

    async def _check_password(self, presented: PresentedCredentials, login: MqttLogin | None) -> None:
        """The Authenticator's check, unless this very secret was proven against this very stored
        hash before (the LoginCache): then only the account's lockout and state are checked again."""
        if login is not None:
            record = login.record
            if record.enabled and not record.mfa_enrolled and not record.mfa_enrollment_pending:
                self._passwords.check_account(presented.tenant_id, presented.username, presented.source)
                if self.logins.verified(record.user_id, presented.password, record.password_hash):
                    return
        principal = await self._passwords.verify(presented, login.record if login is not None else None)
        if principal.mfa_enrollment_pending:  # as for tokens: nothing but the enrollment until it is done
            raise _Denied("MFA enrollment is enforced and not done")
        if login is not None:
            self.logins.remember(login.record.user_id, presented.password, login.record.password_hash)

    async def _connect_with_common_name(self, attempt: ConnectAttempt, common_name: str) -> ConnectDecision:
        """The broker verified the certificate's chain (against the device CA it was given) and
        reports its common name: the one subject holding a valid certificate issued to that name."""
        self._passwords.check_account(self._default_tenant, common_name, attempt.source)
        tenant_id = None
        name = common_name
        if "/" in common_name:
            tenant_id, name = self.split_username(common_name)
        holders = await self._directory.certificate_subjects(name, tenant_id)
        if len(holders) != 1:
            raise _Denied(
                "more than one subject holds a certificate of that name" if holders else "no valid certificate"
            )
        user = holders[0]
        # Later questions name the subject by the same name: it must resolve to the same subject.
        resolved = await self._resolve(common_name)
        if resolved is None or (resolved.tenant_id, resolved.username) != (user.tenant_id, user.username):
            raise _Denied("the certificate's name also names another user")
        if not user.enabled:
            raise _Denied("user disabled")
        if not user.grants(GrantMethod.CERTIFICATE):
            raise _Denied("the certificate grant type is not allowed for this user")
        return self._granted(user, {GrantMethod.CERTIFICATE.value}, None, attempt.client_id)

    async def _connect_with_token(self, attempt: ConnectAttempt, token: str) -> ConnectDecision:
        user = await self._token_user(token, attempt.source)
        if attempt.username:
            if self.split_username(attempt.username) != (user.tenant_id, user.username):
                raise _Denied("the token belongs to another user")
            return self._granted(user, {GrantMethod.TOKEN.value}, None, attempt.client_id)
        return self._granted(user, {GrantMethod.TOKEN.value}, user.qualified_name, attempt.client_id)

    def _granted(self, user: MqttUser, verified: set[str], username: str | None, client_id: str) -> ConnectDecision:
        if user.kind is SubjectKind.BOOTSTRAP:
            # The shared identity every bootstrapping device knows: at a broker it could only take
            # over other clients' sessions. Devices bootstrap over HTTP or the MQTT bootstrap listener.
            raise _Denied("the bootstrap identity does not connect to brokers")
        if not verified:
            raise _Denied("no credential the user's grant types allow")
        missing = user.required_methods - verified
        if missing:
            raise _Denied(f"required grant types not presented: {', '.join(sorted(missing))}")
        if not user.client_id_allowed(client_id or None):
            raise _Denied(f"a device must connect with its device id as the client id, not {client_id!r}")
        log.info("MQTT connect allowed for %s (%s)", user.qualified_name, ", ".join(sorted(verified)))
        return ConnectDecision(True, username, user)

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

    async def _certificate_owner(self, fingerprints: Sequence[str]) -> MqttUser:
        owners = await self._directory.certificate_owners(fingerprints)
        if len(owners) != 1:
            raise _Denied("the client certificate names no single user" if owners else "unknown client certificate")
        return owners[0]

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

    async def subject(self, username: str | None, client_id: str | None = None) -> MqttUser | None:
        """The active subject a broker names (None: unknown, disabled, a certificate-only subject
        without a valid certificate, or a device asking with another client id than its device id).
        Adapters use it for what is not a topic (RabbitMQ's queues and exchange)."""
        try:
            return await self._active_user(username, client_id)
        except AdmittanceError as exc:
            log.warning("MQTT subject %r refused: %s", username, _why(exc))
            return None

    async def publish(
        self, username: str | None, topic: str, *, client_id: str | None = None, rewrite: bool = True
    ) -> PublishDecision:
        """May the subject publish to `topic`? With `rewrite` (a broker that applies the answer's
        topic, as VerneMQ does) the user's publish prefix is put in front; without it the client
        must have published to the final topic itself."""
        try:
            user = await self._active_user(username, client_id)
            if user is None or not valid_topic_name(topic):
                return PublishDecision(False)
            final = with_prefix(user.publish_prefix, topic) if rewrite else topic
            if not valid_topic_name(final) or not _may_write(user.mqtt_permissions(), final):
                log.info("MQTT publish refused for %s", user.qualified_name)
                return PublishDecision(False)
            return PublishDecision(True, final if rewrite and user.publish_prefix else None)
        except AdmittanceError as exc:
            log.warning("MQTT publish refused for %r: %s", username, _why(exc))
            return PublishDecision(False)

    async def subscribe(
        self, username: str | None, filters: Sequence[str], *, client_id: str | None = None
    ) -> SubscribeDecision:
        try:
            user = await self._active_user(username, client_id)
        except AdmittanceError as exc:
            log.warning("MQTT subscribe refused for %r: %s", username, _why(exc))
            user = None
        if user is None:
            return SubscribeDecision(tuple(False for _ in filters))
        grants = tuple(user.mqtt_permissions())
        return SubscribeDecision(tuple(_may_read(grants, topic) for topic in filters))

    async def receive(self, username: str | None, topic: str, *, client_id: str | None = None) -> bool:
        """May the subject be sent a message published to `topic` (a read permission matches it)?"""
        try:
            user = await self._active_user(username, client_id)
        except AdmittanceError as exc:
            log.warning("MQTT receive refused for %r: %s", username, _why(exc))
            return False
        if user is None or not valid_topic_name(topic):
            return False
        return any(grant.allows(Context.MQTT, Operation.READ, topic) for grant in user.mqtt_permissions())

    async def _active_user(self, username: str | None, client_id: str | None = None) -> MqttUser | None:
        if not username:
            return None
        user = await self._resolve(username)
        if user is None or not user.enabled or user.kind is SubjectKind.BOOTSTRAP:
            return None
        if not user.client_id_allowed(client_id):
            log.info("MQTT client %r is not the device id of %s: refused", client_id, user.qualified_name)
            return None
        return user

    async def _resolve(self, name: str) -> MqttUser | None:
        """The subject a broker names: `tenant/user` or a user of the default tenant, else the one
        holder of a valid certificate issued to that name (a broker that logs certificate clients in
        by their common name asks by it)."""
        tenant_id, username = self.split_username(name)
        user = await self._subject(tenant_id, username)
        if user is not None:
            return user
        holders = await self._directory.certificate_subjects(username, tenant_id if "/" in name else None)
        return holders[0] if len(holders) == 1 else None

    async def _subject(self, tenant_id: str, username: str) -> MqttUser | None:
        """A user by name; one that may authenticate only by certificate must still hold a valid one."""
        user = await self._directory.mqtt_user(tenant_id, username)
        if user is not None and _certificate_only(user) and not await self._directory.holds_certificate(user):
            log.info("MQTT subject %s refused: it has no valid certificate left", user.qualified_name)
            return None
        return user

    async def _delay_since(self, started: float) -> None:
        remaining = self._delay - (self._clock.monotonic() - started)
        if remaining > 0:
            await asyncio.sleep(remaining)


def _certificate_only(user: MqttUser) -> bool:
    return bool(user.grant_types) and all(grant.method == GrantMethod.CERTIFICATE.value for grant in user.grant_types)


def _may_write(grants: frozenset[Permission], topic: str) -> bool:
    return any(grant.allows(Context.MQTT, Operation.WRITE, topic) for grant in grants)


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
