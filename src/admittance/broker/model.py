"""What broker decisions are about: a broker's CONNECT, the user as the broker sees it, the decisions,
and the pure rules of MQTT topics, shared subscriptions and publish prefixes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

import orjson

from admittance.kernel.access import Permission
from admittance.kernel.principal import Principal

# The MQTT 5 authentication method (CONNECT/AUTH property) whose data is an Admittance API token.
TOKEN_AUTH_METHOD = "ADMITTANCE-TOKEN"  # noqa: S105 - a method name, not a secret
MAX_TOPIC_BYTES = 65535  # MQTT: a topic is a UTF-8 string with a two-byte length
_SHARED_PREFIX = "$share/"


class GrantMethod(StrEnum):
    PASSWORD = "password"  # noqa: S105 - names of methods, not secrets
    CERTIFICATE = "certificate"
    TOKEN = "token"  # noqa: S105


@dataclass(frozen=True, slots=True)
class GrantType:
    method: str
    required: bool


def parse_grant_types(text: str | None) -> tuple[GrantType, ...]:
    """The users.grant_types column. Anything unreadable grants nothing (fail closed)."""
    if not text:
        return ()
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        return ()
    if not isinstance(document, list):
        return ()
    return tuple(
        GrantType(item["method"], item.get("isRequired") is True)
        for item in document
        if isinstance(item, dict) and isinstance(item.get("method"), str)
    )


@dataclass(frozen=True, slots=True)
class MqttUser:
    """What the broker decisions need of a user, read fresh for every hook call."""

    user_id: int
    tenant_id: str
    username: str
    enabled: bool
    roles: frozenset[str]
    stored_permissions: frozenset[Permission] = frozenset()
    publish_prefix: str | None = None
    grant_types: tuple[GrantType, ...] = ()

    def principal(self) -> Principal:
        return Principal.of(self.user_id, self.tenant_id, self.username, self.roles, self.stored_permissions)

    def grants(self, method: GrantMethod) -> bool:
        return any(grant.method == method.value for grant in self.grant_types)

    @property
    def required_methods(self) -> frozenset[str]:
        return frozenset(grant.method for grant in self.grant_types if grant.required)


@dataclass(frozen=True, slots=True)
class ConnectAttempt:
    """What a broker reports of a CONNECT. `auth_method`/`auth_data` are the MQTT 5 enhanced
    authentication properties; `client_cert` the client's certificate (DER)."""

    username: str | None
    password: str | None
    client_id: str
    peer_addr: str | None
    client_cert: bytes | None = None
    auth_method: str | None = None
    auth_data: bytes | None = None

    def __repr__(self) -> str:  # no secret in any log line
        return f"ConnectAttempt(username={self.username!r}, client_id={self.client_id!r}, peer={self.peer_addr!r})"

    @property
    def source(self) -> str:
        """The MQTT client's address, for rate limits (the HTTP caller is the broker itself)."""
        return self.peer_addr or f"mqtt-client:{self.client_id}"


@dataclass(frozen=True, slots=True)
class ConnectDecision:
    allowed: bool
    username: str | None = None  # set when the identity came from a token or certificate without a username


@dataclass(frozen=True, slots=True)
class PublishDecision:
    allowed: bool
    topic: str | None = None  # the rewritten topic, when a publish prefix applies


@dataclass(frozen=True, slots=True)
class SubscribeDecision:
    granted: tuple[bool, ...] = field(default=())


class EnhancedOutcome(StrEnum):
    OK = "ok"
    BAD_METHOD = "bad_authentication_method"
    DENIED = "not_authorized"


DENY = ConnectDecision(False)


def certificate_fingerprints(der: bytes) -> tuple[str, str]:
    """The SHA-256 and SHA-1 fingerprints of a DER certificate, as users.certificates stores them
    (lower-case hex without colons). The broker has verified the certificate's chain already."""
    return hashlib.sha256(der).hexdigest(), hashlib.sha1(der, usedforsecurity=False).hexdigest()


def valid_topic_name(topic: str) -> bool:
    """A topic a client may publish to: not empty, no wildcard, no NUL, not too long."""
    return (
        bool(topic)
        and "+" not in topic
        and "#" not in topic
        and "\x00" not in topic
        and len(topic.encode("utf-8")) <= MAX_TOPIC_BYTES
    )


def with_prefix(prefix: str | None, topic: str) -> str:
    """The final topic: the publish prefix, a level separator unless the prefix ends in one, the topic."""
    if not prefix:
        return topic
    return prefix + topic if prefix.endswith("/") else f"{prefix}/{topic}"


def subscription_filter(topic: str) -> str | None:
    """The filter a subscription reads: a shared subscription `$share/<group>/<filter>` reads `<filter>`."""
    if topic.startswith(_SHARED_PREFIX):
        _group, slash, rest = topic[len(_SHARED_PREFIX) :].partition("/")
        return rest if slash and _group and rest else None
    return topic
