"""Tenants, users and the rules for their names and passwords."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from admittance.kernel.access import Permission
from admittance.kernel.errors import InvalidInput
from admittance.kernel.principal import Principal
from admittance.kernel.text import has_control_chars


class SecurityTokenPolicy(StrEnum):
    """How a tenant treats the security token a device may send when it polls for credentials."""

    IGNORED = "IGNORED"
    OPTIONAL = "OPTIONAL"
    REQUIRED = "REQUIRED"


class UserKind(StrEnum):
    HUMAN = "human"
    DEVICE = "device"
    BOOTSTRAP = "bootstrap"


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    security_token_policy: SecurityTokenPolicy
    device_limit: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class User:
    id: int
    tenant_id: str
    username: str
    kind: UserKind
    enabled: bool
    roles: frozenset[str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserAuthRecord:
    """What authentication needs of a user row, read fresh on every request."""

    user_id: int
    tenant_id: str
    username: str
    password_hash: str
    enabled: bool
    roles: frozenset[str]
    stored_permissions: frozenset[Permission] = frozenset()  # of its custom roles (built-in ones are in code)
    mfa_enrolled: bool = False  # a TOTP secret is enrolled: a password alone does not authenticate
    mfa_enforced: bool = False  # enrollment is enforced (enforceMFAEnrollment)

    @property
    def mfa_enrollment_pending(self) -> bool:
        return self.mfa_enforced and not self.mfa_enrolled

    def principal(self) -> Principal:
        return Principal.of(
            self.user_id,
            self.tenant_id,
            self.username,
            self.roles,
            self.stored_permissions,
            mfa_enrollment_pending=self.mfa_enrollment_pending,
        )


@dataclass(frozen=True, slots=True)
class PresentedCredentials:
    """Username and password as a client presented them, with where they came from."""

    tenant_id: str
    username: str
    password: str
    source: str  # client address, for rate limits and logs

    def __repr__(self) -> str:  # the password must never reach a log line
        return f"PresentedCredentials({self.tenant_id}/{self.username} from {self.source})"


_TENANT_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@+\-]{1,254}$")


def validate_tenant_id(tenant_id: str) -> str:
    if not _TENANT_ID.fullmatch(tenant_id):
        raise InvalidInput(
            "tenant id must start with a lower-case letter and contain only lower-case letters, "
            "digits and '-' (at most 63 characters)",
            entity="tenant",
            field="id",
        )
    return tenant_id


def validate_username(username: str) -> str:
    if not _USERNAME.fullmatch(username):
        raise InvalidInput(
            "username must be 1-254 characters of letters, digits and _ . @ + -",
            entity="user",
            field="username",
        )
    return username


_POLICY_KEYS = {
    "min": "min_length",
    "lower": "min_lower",
    "upper": "min_upper",
    "numeric": "min_numeric",
    "symbol": "min_symbol",
}


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """Rules for passwords people choose. Generated secrets are always far above them.

    Connectware's rules (`CYBUS_AUTH_PASSWORD_POLICY_RULES`): minimum counts of characters (`min`),
    lower-case letters (`lower`, Unicode category Ll), upper-case letters (`upper`, Lu), decimal
    digits (`numeric`, Nd) and symbols (`symbol`, categories P* and S*); 0 disables a rule. Ours also
    always apply: at most `max_length` characters, not the username, no control characters, never empty.
    """

    min_length: int = 8
    max_length: int = 128
    min_lower: int = 0
    min_upper: int = 0
    min_numeric: int = 0
    min_symbol: int = 0

    @classmethod
    def from_rules(cls, rules: str) -> PasswordPolicy:
        """The policy of a Connectware rules JSON object, e.g. `{"min": 12, "upper": 1}`.
        Raises ValueError with a clear message when the text is not such an object."""
        try:
            document = json.loads(rules)
        except ValueError as exc:
            raise ValueError(f"password_policy is not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise ValueError('password_policy must be a JSON object such as {"min": 8}')
        unknown = sorted(set(document) - set(_POLICY_KEYS))
        if unknown:
            raise ValueError(
                f"password_policy has unknown rules: {', '.join(unknown)} (known: min, lower, upper, numeric, symbol)"
            )
        values: dict[str, int] = {}
        for key, value in document.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"password_policy rule {key} must be a whole number of at least 0")
            values[_POLICY_KEYS[key]] = value
        policy = cls(**values)
        required = policy.min_lower + policy.min_upper + policy.min_numeric + policy.min_symbol
        if max(policy.min_length, required) > policy.max_length:
            raise ValueError(
                f"password_policy asks for more than the {policy.max_length} characters a password may have"
            )
        return policy

    def rules(self) -> str:
        """The Connectware rules JSON object this policy is read from (`from_rules(p.rules()) == p`)."""
        document = {"min": self.min_length}
        for key, attribute in _POLICY_KEYS.items():
            if key != "min" and getattr(self, attribute):
                document[key] = getattr(self, attribute)
        return json.dumps(document)

    def check(self, password: str, username: str) -> None:
        if len(password) < max(1, self.min_length):
            raise InvalidInput(
                f"password must have at least {max(1, self.min_length)} characters", entity="user", field="password"
            )
        counts = {"lower": 0, "upper": 0, "numeric": 0, "symbol": 0}
        for char in password:
            category = unicodedata.category(char)
            if category == "Ll":
                counts["lower"] += 1
            elif category == "Lu":
                counts["upper"] += 1
            elif category == "Nd":
                counts["numeric"] += 1
            elif category[0] in "PS":
                counts["symbol"] += 1
        for key, wanted, what in (
            ("lower", self.min_lower, "lower-case letters"),
            ("upper", self.min_upper, "upper-case letters"),
            ("numeric", self.min_numeric, "digits"),
            ("symbol", self.min_symbol, "symbols (punctuation or signs)"),
        ):
            if counts[key] < wanted:
                raise InvalidInput(f"password must contain at least {wanted} {what}", entity="user", field="password")
        if len(password) > self.max_length:
            raise InvalidInput(
                f"password must have at most {self.max_length} characters", entity="user", field="password"
            )
        if password.lower() == username.lower():
            raise InvalidInput("password must differ from the username", entity="user", field="password")
        if has_control_chars(password):
            raise InvalidInput("password must not contain control characters", entity="user", field="password")


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    user_id: int
    tenant_id: str
    username: str
    kind: str
    label: str | None
    created_at: datetime
    expires_at: datetime
    session_seconds: int | None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What may be shown of a token: never the token itself."""

    fingerprint: str
    created_at: datetime
    expires_at: datetime
    label: str | None


@dataclass(frozen=True, slots=True)
class UserRef:
    user_id: int
    tenant_id: str
    username: str


@dataclass(frozen=True, slots=True)
class MfaState:
    user_id: int
    secret: str | None  # sealed
    pending_secret: str | None  # sealed
    last_step: int | None


@dataclass(frozen=True, slots=True)
class NewToken:
    id: str
    user_id: int
    digest: str
    kind: str
    label: str | None
    created_at: datetime
    expires_at: datetime
    session_seconds: int | None


class Door(StrEnum):
    """Where a subject authenticated: the door its last contact came through."""

    HTTP = "http"  # any HTTP surface (Cumulocity, EST, the APIs): Basic, token or client certificate
    MOSQUITTO_PULL = "mosquitto-pull"  # Mosquitto asking over HTTP (mosquitto-go-auth's protocol)
    MOSQUITTO_PUSH = "mosquitto-push"  # Mosquitto holding the pushed dynamic-security state
    RABBITMQ = "rabbitmq"  # RabbitMQ's HTTP auth backend
    EMQX = "emqx"  # EMQX's HTTP authentication
    VERNEMQ = "vernemq"  # VerneMQ webhooks (Connectware's /api/broker/auth)
    MQTT_BOOTSTRAP = "mqtt-bootstrap"  # the Cumulocity MQTT bootstrap listener


MAX_SEEN_ADDRESS_CHARS = 64


@dataclass(frozen=True, slots=True)
class LastSeen:
    """When a subject (a user, or an nRF claimed device by its id) last authenticated, through which
    door and from which address (None when the door does not say)."""

    at: datetime
    door: Door
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Sighting:
    """One last contact to record: the subject by its tenant and name."""

    tenant_id: str
    subject: str
    seen: LastSeen
