"""What broker decisions are about: a broker's CONNECT, the subject as the broker sees it (a user, a
device user, an nRF claimed device), the decisions, and the pure rules of MQTT topics, a device's own
topics, the ACL entries a broker is given, shared subscriptions and publish prefixes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

import orjson

from admittance.identity.model import UserAuthRecord
from admittance.kernel.access import Context, Operation, Permission
from admittance.kernel.principal import Principal

# The MQTT 5 authentication method (CONNECT/AUTH property) whose data is an Admittance API token.
TOKEN_AUTH_METHOD = "ADMITTANCE-TOKEN"  # noqa: S105 - a method name, not a secret
MAX_TOPIC_BYTES = 65535  # MQTT: a topic is a UTF-8 string with a two-byte length
_SHARED_PREFIX = "$share/"


@dataclass(frozen=True, slots=True)
class BrokerPolicy:
    """How long a verified broker login is remembered (broker/cache.py), and how many are."""

    login_cache_seconds: float = 24 * 3600.0
    login_cache_entries: int = 200_000


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


class SubjectKind(StrEnum):
    """What kind of subject a broker's client is."""

    USER = "user"  # a person or a service client (the client registry's): its roles' mqtt permissions
    DEVICE = "device"  # a device user (`device_<id>`): its own topics and its roles' mqtt permissions
    NRF_DEVICE = "nrf-device"  # an nRF claimed device, by the certificate issued to it: its own topics
    BOOTSTRAP = "bootstrap"  # the shared bootstrap identity: never admitted by a broker


DEVICE_USERNAME_PREFIX = "device_"


@dataclass(frozen=True, slots=True)
class MqttUser:
    """What the broker decisions need of a subject, read fresh for every decision.

    `device_id` is set for device users and claimed devices: their own topics are named by it and
    their MQTT client id must be it (see `device_topic_grants` and `client_id_allowed`)."""

    user_id: int  # 0 for an nRF claimed device, which is no user
    tenant_id: str
    username: str
    enabled: bool
    roles: frozenset[str]
    stored_permissions: frozenset[Permission] = frozenset()
    publish_prefix: str | None = None
    grant_types: tuple[GrantType, ...] = ()
    kind: SubjectKind = SubjectKind.USER

    def principal(self) -> Principal:
        return Principal.of(self.user_id, self.tenant_id, self.username, self.roles, self.stored_permissions)

    def grants(self, method: GrantMethod) -> bool:
        return any(grant.method == method.value for grant in self.grant_types)

    @property
    def required_methods(self) -> frozenset[str]:
        return frozenset(grant.method for grant in self.grant_types if grant.required)

    @property
    def device_id(self) -> str | None:
        if self.kind is SubjectKind.DEVICE:
            return self.username.removeprefix(DEVICE_USERNAME_PREFIX)
        if self.kind is SubjectKind.NRF_DEVICE:
            return self.username
        return None

    @property
    def qualified_name(self) -> str:
        return f"{self.tenant_id}/{self.username}"

    def client_id_allowed(self, client_id: str | None) -> bool:
        """A device's MQTT client id is its device id (as Cumulocity has it), so that no device can
        take over another's session by its client id. Users and service clients choose theirs.
        None: the broker did not say (that question carries no client id)."""
        device_id = self.device_id
        return device_id is None or client_id is None or client_id == device_id

    def mqtt_permissions(self) -> frozenset[Permission]:
        """Every MQTT permission the subject holds: its roles' (built-in and stored) and, for a device,
        its own topics."""
        granted = {p for p in self.principal().permissions if p.context is Context.MQTT}
        device_id = self.device_id
        if device_id is not None:
            granted |= device_permissions(device_id)
        return frozenset(granted)


@dataclass(frozen=True, slots=True)
class MqttLogin:
    """A subject and what its password is checked against (one read)."""

    user: MqttUser
    record: UserAuthRecord = field(repr=False)


# --- a device's own topics and the ACL entries of a subject ----------------------------------------

# Cumulocity's SmartREST topics (s/us, s/ds, ...) are per connection at Cumulocity; on a broker that
# many devices share they are per device: the device id is the last level, as Cumulocity names the
# topics a gateway uses for a child device (s/us/<child id>). So a bridge of `s/us/#` to Cumulocity
# carries each device's messages as its own. The device publishes upstream and subscribes downstream.
DEVICE_UPSTREAM = ("s/us/{id}", "s/uc/+/{id}", "s/ut/+/{id}", "s/uat/{id}")
DEVICE_DOWNSTREAM = ("s/ds/{id}", "s/dc/+/{id}", "s/dt/{id}", "s/e/{id}", "s/dat/{id}")
_NOT_IN_A_LEVEL = ("/", "+", "#", "\x00")


def own_topics_possible(device_id: str) -> bool:
    """A device id can name topic levels of its own: one whole level, no wildcard, not a `$` topic."""
    return (
        bool(device_id)
        and not device_id.startswith("$")
        and not any(char in device_id for char in _NOT_IN_A_LEVEL)
        and len(device_id.encode("utf-8")) <= 1000
    )


def device_permissions(device_id: str) -> frozenset[Permission]:
    """The permissions of a device's own topics (none for an id that cannot name a level)."""
    if not own_topics_possible(device_id):
        return frozenset()
    return frozenset(
        {Permission(Context.MQTT, Operation.WRITE, topic.format(id=device_id)) for topic in DEVICE_UPSTREAM}
        | {Permission(Context.MQTT, Operation.READ, topic.format(id=device_id)) for topic in DEVICE_DOWNSTREAM}
    )


@dataclass(frozen=True, slots=True, order=True)
class TopicGrant:
    """One ACL entry: a topic filter and what it allows. `read` is subscribing to the filter (any
    filter it covers) and receiving messages on the topics it matches; `write` is publishing to them.
    A broker that pushes state (Mosquitto dynamic security) writes one role per subject from these."""

    filter: str
    read: bool
    write: bool


def topic_grants(user: MqttUser) -> tuple[TopicGrant, ...]:
    """The subject's ACL entries, sorted by filter, one per filter. Nothing for a disabled subject.
    The publish prefix is not applied (a broker that cannot rewrite topics sees the final topics,
    which the write permissions name already)."""
    if not user.enabled:
        return ()
    merged: dict[str, tuple[bool, bool]] = {}
    for permission in user.mqtt_permissions():
        read, write = merged.get(permission.resource, (False, False))
        operation = permission.operation
        merged[permission.resource] = (
            read or operation.covers(Operation.READ),
            write or operation.covers(Operation.WRITE),
        )
    return tuple(TopicGrant(topic, read, write) for topic, (read, write) in sorted(merged.items()))


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
    # The broker verified the client's certificate chain itself and reports only its common name
    # (RabbitMQ's ssl_cert_login): the subject is whoever holds a valid certificate issued to that name.
    certificate_cn: str | None = None

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
    subject: MqttUser | None = None  # who connected (allowed decisions only)


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
