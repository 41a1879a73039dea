"""What a real RabbitMQ 3.10.8 (Debian) asks its HTTP auth backend when an MQTT client connects,
subscribes and publishes: the evidence the pull adapter is built on (docs/operations/rabbitmq.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.auth_recorder import AuthRecorder, AuthRequest
from tests.support.brokers import RabbitMQBroker
from tests.support.mqtt_clients import Device, connect_code

pytestmark = pytest.mark.e2e

DEVICE, SECRET = "dev-1", "dev-1-Secret"
ACCEPTED = 0
REFUSED = 134  # paho's name for the 3.1.1 CONNACK code 4, bad user name or password
SETTLE_SECONDS = 0.3  # auth requests of a subscription may still be on their way when SUBACK arrives


def policy(request: AuthRequest) -> str:
    if request.path == "/auth/user":
        return (
            "allow" if (request.params.get("username"), request.params.get("password")) == (DEVICE, SECRET) else "deny"
        )
    if request.path == "/auth/topic" and request.params.get("routing_key", "").startswith("other"):
        return "deny"
    return "allow"


def _broker(method: str, cache_ttl_ms: int) -> Iterator[tuple[RabbitMQBroker, AuthRecorder]]:
    recorder = AuthRecorder(policy).start()
    broker = RabbitMQBroker(recorder.base, http_method=method, cache_ttl_ms=cache_ttl_ms)
    try:
        broker.start()
        recorder.taken()
        yield broker, recorder
    finally:
        broker.stop()
        recorder.stop()
    assert broker.processes_left() == []  # script, beam.smp and our epmd all gone


@pytest.fixture(scope="module")
def rabbitmq_get() -> Iterator[tuple[RabbitMQBroker, AuthRecorder]]:
    """RabbitMQ's default method (GET), behind the cache backend with a TTL of 0: every question seen."""
    yield from _broker("get", 0)


@pytest.fixture(scope="module")
def rabbitmq_post() -> Iterator[tuple[RabbitMQBroker, AuthRecorder]]:
    """What docs/operations/rabbitmq.md recommends: POST (no passwords in URLs) and a 15 s cache."""
    yield from _broker("post", 15000)


def _device(broker: RabbitMQBroker) -> Device:
    device = Device(broker.mqtt_port, DEVICE, SECRET, DEVICE, protocol=4)
    assert device.connect() == ACCEPTED
    return device


def _asked(recorder: AuthRecorder) -> list[tuple[str, dict[str, str]]]:
    time.sleep(SETTLE_SECONDS)
    return [(request.path, request.params) for request in recorder.taken()]


def _topic(permission: str, routing_key: str) -> tuple[str, dict[str, str]]:
    return (
        "/auth/topic",
        {
            "username": DEVICE,
            "vhost": "/",
            "resource": "topic",
            "name": "amq.topic",
            "permission": permission,
            "routing_key": routing_key,
            "variable_map.client_id": DEVICE,
            "variable_map.username": DEVICE,
            "variable_map.vhost": "/",
        },
    )


def _resource(kind: str, name: str, permission: str) -> tuple[str, dict[str, str]]:
    return (
        "/auth/resource",
        {
            "username": DEVICE,
            "vhost": "/",
            "resource": kind,
            "name": name,
            "permission": permission,
            "client_id": DEVICE,
        },
    )


USER = ("/auth/user", {"username": DEVICE, "password": SECRET, "vhost": "/", "client_id": DEVICE})
VHOST = ("/auth/vhost", {"username": DEVICE, "vhost": "/", "ip": "127.0.0.1", "client_id": DEVICE})


@pytest.mark.parametrize("fixture", ["rabbitmq_get", "rabbitmq_post"])
def test_what_rabbitmq_asks_at_connect_subscribe_and_publish(fixture: str, request: pytest.FixtureRequest) -> None:
    broker, recorder = request.getfixturevalue(fixture)
    device = _device(broker)
    try:
        connect = recorder.taken()
        assert [(r.path, r.params) for r in connect] == [USER, USER, VHOST]  # /user twice, even behind the cache
        method = "GET" if fixture == "rabbitmq_get" else "POST"
        assert {(r.method, r.in_query) for r in connect} == {(method, method == "GET")}
        if method == "POST":
            assert {r.content_type for r in connect} == {"application/x-www-form-urlencoded"}

        assert device.subscribe("s/ds", 1) == 1
        queue = f"mqtt-subscription-{DEVICE}qos1"
        assert _asked(recorder) == [
            _resource("queue", queue, "configure"),
            _resource("queue", queue, "read"),
            _resource("queue", queue, "write"),
            _resource("exchange", "amq.topic", "read"),
            _topic("read", "s.ds"),  # MQTT / becomes AMQP .
        ]
        assert device.subscribe("devices/dev-1/+/cmd/#", 0) == 0
        asked = _asked(recorder)
        assert asked[-1] == _topic("read", "devices.dev-1.*.cmd.#")  # + becomes *, # stays

        assert device.publish("s/us", b"200,c8y_Temperature,T,25", 1) == ACCEPTED
        asked = _asked(recorder)
        assert asked[0] == _topic("write", "s.us")
        assert _resource("exchange", "amq.topic", "write") in asked
        assert device.publish("s/us", b"200,c8y_Temperature,T,26", 1) == ACCEPTED
        assert _asked(recorder) == []  # the MQTT plugin keeps a topic decision for the connection
    finally:
        device.close()


def test_a_denied_publish_closes_the_connection(rabbitmq_get: tuple[RabbitMQBroker, AuthRecorder]) -> None:
    broker, recorder = rabbitmq_get
    device = _device(broker)
    try:
        recorder.taken()
        device.publish("other/x", b"x", 0)
        assert device.disconnected.wait(5)
        assert _asked(recorder) == [_topic("write", "other.x")]
    finally:
        device.close()


def test_a_denied_subscription_closes_the_connection(rabbitmq_get: tuple[RabbitMQBroker, AuthRecorder]) -> None:
    broker, recorder = rabbitmq_get
    device = _device(broker)
    try:
        recorder.taken()
        device.client.subscribe("other/#", 0)
        assert device.disconnected.wait(5)
        assert _asked(recorder)[-1] == _topic("read", "other.#")
    finally:
        device.close()


def test_wrong_guest_and_anonymous_logins_are_refused(rabbitmq_get: tuple[RabbitMQBroker, AuthRecorder]) -> None:
    broker, recorder = rabbitmq_get
    assert connect_code(broker.mqtt_port, DEVICE, "wrong", DEVICE, protocol=4) == REFUSED
    assert connect_code(broker.mqtt_port, "guest", "guest", "g", protocol=4) == REFUSED
    assert [(r.path, r.params.get("username")) for r in recorder.taken()] == [
        ("/auth/user", DEVICE),
        ("/auth/user", "guest"),  # the internal guest user is not consulted: only the HTTP backend
    ]
    assert connect_code(broker.mqtt_port, None, None, "anonymous", protocol=4) == REFUSED
    assert recorder.taken() == []  # mqtt.allow_anonymous = false: refused without a question


def test_the_cache_backend_answers_a_reconnect(rabbitmq_post: tuple[RabbitMQBroker, AuthRecorder]) -> None:
    broker, recorder = rabbitmq_post
    _device(broker).close()
    recorder.taken()
    device = _device(broker)
    try:
        assert device.publish("s/us", b"x", 1) == ACCEPTED
        assert _asked(recorder) == []  # within auth_cache.cache_ttl nothing reaches Admittance
    finally:
        device.close()
