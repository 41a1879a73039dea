"""The seed's broker authentication endpoints: VerneMQ webhooks (vmq_webhooks) answered by the broker
decisions (admittance.broker). docs/compat/connectware/broker.md has the exact shapes.

    POST /api/broker/auth              the hook named by the `vernemq-hook` header
    POST /api/broker/auth/{hook}       auth_on_register(_m5), auth_on_publish(_m5), auth_on_subscribe(_m5), on_auth_m5
    POST /api/broker/auth/enhanced     on_auth_m5 (the seed's path)

Only the broker may call: with `broker_hook_secret` set, the caller must present it (Authorization:
Bearer, Basic with it as the password, or x-admittance-broker-secret); without it, only loopback
callers that did not come through a proxy. Past that guard every answer is 200 (VerneMQ takes any
other status as a failed hook): a malformed request, an unknown user or a database error is a
denial, never a 500. Payloads and passwords are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from admittance.broker.model import ConnectAttempt, EnhancedOutcome
from admittance.broker.service import BrokerAuthService
from admittance.http.basic_auth import Identity, client_address
from admittance.http.body import read_body
from admittance.http.compat.connectware.spec import header_parameter, operation
from admittance.http.fields import Fields
from admittance.http.openapi import (
    BOOLEAN,
    INTEGER,
    JSON,
    NULLABLE_STRING,
    STRING,
    Operation,
    WireObject,
    array,
    described,
    json_answer,
    member,
    ref,
)
from admittance.http.params import has_header, header, path_text
from admittance.http.surface import Row, public
from admittance.kernel.errors import MalformedInput, NotFound, PermissionDenied

log = logging.getLogger("admittance.broker")

REGISTER_HOOKS = frozenset({"auth_on_register", "auth_on_register_m5"})
PUBLISH_HOOKS = frozenset({"auth_on_publish", "auth_on_publish_m5"})
SUBSCRIBE_HOOKS = frozenset({"auth_on_subscribe", "auth_on_subscribe_m5"})
ENHANCED_HOOK = "on_auth_m5"
HOOKS = REGISTER_HOOKS | PUBLISH_HOOKS | SUBSCRIBE_HOOKS | {ENHANCED_HOOK}
PATH_ALIASES = {"enhanced": ENHANCED_HOOK}
HOOK_HEADER = "vernemq-hook"
SECRET_HEADER = "x-admittance-broker-secret"  # noqa: S105 - a header name
NOT_ALLOWED: dict[str, Any] = {"result": {"error": "not_allowed"}}
OK: dict[str, Any] = {"result": "ok"}
QOS_REJECTED_V3 = 128  # SUBACK failure (MQTT 3.1.1)
QOS_REJECTED_M5 = 135  # 0x87 Not authorized (MQTT 5)
_LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
_RETAIN_HANDLING = frozenset({"send_retain", "send_if_new_sub", "dont_send"})

Answer = tuple[dict[str, Any], bool]  # the JSON answer, and whether it is a full allow (cacheable)


_PROPERTIES: dict[str, Any] = {"type": "object"}
TOPIC = WireObject[Any]("BrokerTopic", [member("topic", STRING, required=True), member("qos", INTEGER, required=True)])
RESULT = WireObject[Any](
    "BrokerResult",
    [
        member(
            "result",
            {
                "oneOf": [
                    {"type": "string", "enum": ["ok"]},
                    WireObject[Any](None, [member("error", STRING, required=True)]).schema(),
                ]
            },
            required=True,
        ),
        member("modifiers", {"type": "object"}),
        member("topics", array(ref("BrokerTopic"))),
    ],
    description="VerneMQ webhook answer: `ok` (maybe with modifiers) or `{error: ...}` (a denial)",
)
_CLIENT = [member("client_id", STRING), member("mountpoint", STRING)]
REGISTER = WireObject[Any](
    "BrokerRegister",
    [
        member("peer_addr", STRING),
        member("peer_port", INTEGER),
        member("username", NULLABLE_STRING),
        member("password", NULLABLE_STRING),
        member("mountpoint", STRING),
        member("client_id", STRING),
        member("clean_session", BOOLEAN),
        member("clean_start", BOOLEAN),
        member("client_cert", described(STRING, "base64 DER (forward_connection_opts)")),
        member("properties", _PROPERTIES),
    ],
)
PUBLISH = WireObject[Any](
    "BrokerPublish",
    [
        member("username", NULLABLE_STRING),
        *_CLIENT,
        member("qos", INTEGER),
        member("topic", STRING, required=True),
        member("payload", STRING),
        member("retain", BOOLEAN),
        member("properties", _PROPERTIES),
    ],
)
SUBSCRIBE = WireObject[Any](
    "BrokerSubscribe",
    [
        member("username", NULLABLE_STRING),
        *_CLIENT,
        member("topics", array(ref("BrokerTopic"), minItems=1), required=True),
        member("properties", _PROPERTIES),
    ],
)
ENHANCED = WireObject[Any](
    "BrokerEnhanced",
    [
        member("username", NULLABLE_STRING),
        *_CLIENT,
        member(
            "properties",
            WireObject[Any](
                None, [member("p_authentication_method", STRING), member("p_authentication_data", STRING)]
            ).schema(),
        ),
    ],
)
WIRE_OBJECTS = (RESULT, TOPIC, REGISTER, PUBLISH, SUBSCRIBE, ENHANCED)
_BODY_OF = {
    **dict.fromkeys(REGISTER_HOOKS, REGISTER),
    **dict.fromkeys(PUBLISH_HOOKS, PUBLISH),
    **dict.fromkeys(SUBSCRIBE_HOOKS, SUBSCRIBE),
    ENHANCED_HOOK: ENHANCED,
}


def _broker_operation(
    path: str, summary: str, body: dict[str, Any], hook: dict[str, Any], errors: tuple[int, ...]
) -> Operation:
    """A broker hook: past its guard every answer is a 200 (a denial for whatever is malformed), since
    VerneMQ takes any other status for a failed hook. The guard: loopback callers only (403), or the
    shared secret when `broker_hook_secret` is set (401, 429)."""
    described_hook = operation(
        "POST",
        path,
        summary,
        "broker",
        {200: json_answer("The decision, as VerneMQ's webhooks expect it", RESULT.use())},
        (401, 403, 429, *errors),
        parameters=[hook],
    )
    return replace(
        described_hook,
        body={JSON: body},
        security=[{}, {"brokerSecret": []}, {"bearerAuth": []}, {"basicAuth": []}],
    )


def _operations() -> tuple[Operation, ...]:
    """One operation per hook path (each hook has its own body), and the one named by the header."""
    described_paths = [
        _broker_operation(
            f"/api/broker/auth/{path}",
            f"VerneMQ webhook {hook}" + (" (the seed's path)" if path != hook else ""),
            _BODY_OF[hook].use(),
            header_parameter(HOOK_HEADER, STRING, f"If sent, it must be {hook}: otherwise a denial"),
            (),
        )
        for path, hook in [*((name, name) for name in sorted(HOOKS)), *PATH_ALIASES.items()]
    ]
    by_header = _broker_operation(
        "/api/broker/auth",
        "VerneMQ webhook named by the vernemq-hook header (one endpoint for every hook)",
        {"type": "object"},
        header_parameter(HOOK_HEADER, {"type": "string", "enum": sorted(HOOKS)}, "The hook", required=True),
        (400, 404),
    )
    return (*described_paths, by_header)


OPERATIONS = _operations()


class _Malformed(Exception):
    """The hook's request does not have the shape VerneMQ sends: denied."""


def routes(hooks: BrokerHooks) -> list[Row]:
    """Public at the door: the hooks check the broker's secret (or a loopback caller) themselves."""
    return [
        public("POST", "/api/broker/auth", hooks.by_header),
        public("POST", "/api/broker/auth/{hook}", hooks.by_path),
    ]


class BrokerHooks:
    def __init__(
        self, broker: BrokerAuthService, identity: Identity, secret: str, cache_seconds: int, max_body_bytes: int
    ) -> None:
        self._broker = broker
        self._identity = identity
        self._secret = secret
        self._cache_seconds = cache_seconds
        self._max_body_bytes = max_body_bytes
        self._deciders: dict[str, Callable[[str, dict[str, Any]], Awaitable[Answer]]] = {
            **dict.fromkeys(REGISTER_HOOKS, self._register),
            **dict.fromkeys(PUBLISH_HOOKS, self._publish),
            **dict.fromkeys(SUBSCRIBE_HOOKS, self._subscribe),
            ENHANCED_HOOK: self._enhanced,
        }

    async def by_header(self, request: Request) -> Response:
        await self._guard(request)
        hook = header(request, HOOK_HEADER)
        if not hook:
            raise MalformedInput(f"The {HOOK_HEADER} header is missing: it names the hook")
        if hook not in HOOKS:
            raise NotFound(f"There is no broker hook {hook}")
        return await self._answer(request, hook)

    async def by_path(self, request: Request) -> Response:
        await self._guard(request)
        named = path_text(request, "hook")
        hook = PATH_ALIASES.get(named, named)
        if hook not in HOOKS:
            raise NotFound(f"There is no broker hook {named}")
        sent = header(request, HOOK_HEADER)
        if sent is not None and sent != hook:
            log.warning("broker hook %s called with %s: %s; denied", hook, HOOK_HEADER, sent)
            return _respond(NOT_ALLOWED)
        return await self._answer(request, hook)

    async def _guard(self, request: Request) -> None:
        if self._secret:
            presented = _presented_secret(request)
            if presented is None or not hmac.compare_digest(presented.encode(), self._secret.encode()):
                await self._identity.reject_malformed(client_address(request), "no or wrong broker hook secret")
            return
        if client_address(request) not in _LOOPBACK or any(has_header(request, h) for h in _FORWARDING_HEADERS):
            raise PermissionDenied("The broker hooks answer loopback callers only, unless broker_hook_secret is set")

    async def _answer(self, request: Request, hook: str) -> Response:
        try:
            raw = await read_body(request, self._max_body_bytes)
            try:
                document = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise _Malformed("not JSON") from None
            if not isinstance(document, dict):
                raise _Malformed("not a JSON object")
            body, allowed = await self._deciders[hook](hook, document)
        except _Malformed as exc:
            log.warning("broker hook %s: malformed request (%s); denied", hook, exc)
            return _respond(NOT_ALLOWED)
        except Exception as exc:  # noqa: BLE001 - fail closed: a denial, never a 500
            log.error("broker hook %s failed (%s); denied", hook, type(exc).__name__)
            return _respond(NOT_ALLOWED)
        max_age = self._cache_seconds
        cache = allowed and max_age > 0 and hook != ENHANCED_HOOK
        return _respond(body, {"cache-control": f"max-age={max_age}"} if cache else None)

    # --- the hooks -------------------------------------------------------------------------------

    async def _register(self, hook: str, document: dict[str, Any]) -> Answer:
        properties = _object(document, "properties") if hook.endswith("_m5") else {}
        attempt = ConnectAttempt(
            username=_text(document, "username"),
            password=_text(document, "password"),
            client_id=_text(document, "client_id") or "",
            peer_addr=_text(document, "peer_addr"),
            client_cert=_base64(document, "client_cert"),
            auth_method=_text(properties, "p_authentication_method"),
            auth_data=_base64(properties, "p_authentication_data"),
        )
        decision = await self._broker.connect(attempt)
        if not decision.allowed:
            return NOT_ALLOWED, False
        if decision.username is not None:
            return {"result": "ok", "modifiers": {"username": decision.username}}, True
        return OK, True

    async def _publish(self, hook: str, document: dict[str, Any]) -> Answer:
        topic = _text(document, "topic")
        if topic is None:
            raise _Malformed("no topic")
        decision = await self._broker.publish(_text(document, "username"), topic)
        if not decision.allowed:
            return NOT_ALLOWED, False
        if decision.topic is not None:
            return {"result": "ok", "modifiers": {"topic": decision.topic}}, True
        return OK, True

    async def _subscribe(self, hook: str, document: dict[str, Any]) -> Answer:
        requested = document.get("topics")
        if not isinstance(requested, list) or not requested:
            raise _Malformed("no topics")
        subscriptions = [_subscription(item) for item in requested]
        decision = await self._broker.subscribe(
            _text(document, "username"), [str(item["topic"]) for item in subscriptions]
        )
        m5 = hook.endswith("_m5")
        rejected = QOS_REJECTED_M5 if m5 else QOS_REJECTED_V3
        topics = []
        for item, granted in zip(subscriptions, decision.granted, strict=True):
            if granted:
                topics.append(item if m5 else {"topic": item["topic"], "qos": item["qos"]})
            else:
                topics.append({"topic": item["topic"], "qos": rejected})
        every = all(decision.granted)
        if m5:
            return {"result": "ok", "modifiers": {"topics": topics}}, every
        return {"result": "ok", "topics": topics}, every

    async def _enhanced(self, hook: str, document: dict[str, Any]) -> Answer:
        properties = _object(document, "properties")
        method = _text(properties, "p_authentication_method")
        source = f"mqtt-client:{_text(document, 'client_id') or ''}"
        outcome = await self._broker.enhanced(
            _text(document, "username"), method, _base64(properties, "p_authentication_data"), source
        )
        if outcome is not EnhancedOutcome.OK:
            return {"result": {"error": outcome.value}}, False
        return {
            "result": "ok",
            "modifiers": {"properties": {"p_authentication_method": method}, "reason_code": 0},
        }, True


def _respond(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), 200, headers=headers, media_type="application/json")


def _presented_secret(request: Request) -> str | None:
    sent = header(request, SECRET_HEADER)
    if sent is not None:
        return sent
    scheme, _, value = (header(request, "authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        # A webhook endpoint URL like http://broker:<secret>@127.0.0.1:8111/api/broker/auth
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _user, colon, password = decoded.partition(":")
        return password if colon else None
    return None


FIELDS = Fields(wrong_type=lambda message, _name: _Malformed(message), not_text="{} is not a string")


def _text(document: dict[str, Any], key: str) -> str | None:
    """A string member; JSON null or absent is None; any other type is malformed."""
    return FIELDS.text(document, key)


def _object(document: dict[str, Any], key: str) -> dict[str, Any]:
    return FIELDS.mapping(document, key) or {}


def _base64(document: dict[str, Any], key: str) -> bytes | None:
    value = _text(document, key)
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _Malformed(f"{key} is not base64") from None


def _subscription(item: object) -> dict[str, Any]:
    """One requested subscription: topic and qos, and the MQTT 5 options to echo back unchanged
    (VerneMQ otherwise resets them to their defaults)."""
    if not isinstance(item, dict):
        raise _Malformed("a subscription is not an object")
    topic, qos = item.get("topic"), item.get("qos")
    if not isinstance(topic, str) or isinstance(qos, bool) or qos not in (0, 1, 2):
        raise _Malformed("a subscription needs a topic and a qos of 0, 1 or 2")
    kept: dict[str, Any] = {"topic": topic, "qos": qos}
    for flag in ("no_local", "rap"):
        if isinstance(item.get(flag), bool):
            kept[flag] = item[flag]
    if item.get("retain_handling") in _RETAIN_HANDLING:
        kept["retain_handling"] = item["retain_handling"]
    return kept
