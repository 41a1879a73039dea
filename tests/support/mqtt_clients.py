"""A real MQTT device for broker tests: paho-mqtt 2.x with its network thread, every answer of
the broker (CONNACK, SUBACK, PUBACK, DISCONNECT, messages) turned into something a test can wait on."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

WAIT_SECONDS = 10.0


@dataclass
class Outcome:
    event: threading.Event = field(default_factory=threading.Event)
    codes: list[int] = field(default_factory=list)
    at: float = 0.0

    def set(self, codes: list[int]) -> None:
        self.codes = codes
        self.at = time.monotonic()
        self.event.set()

    def wait(self, timeout: float = WAIT_SECONDS) -> list[int]:
        if not self.event.wait(timeout):
            raise TimeoutError("the broker did not answer in time")
        return self.codes


def _value(code: Any) -> int:
    return int(code.value) if isinstance(code, ReasonCode) else int(code)


class Device:
    """One MQTT connection. `protocol` 5 (default) gives reason codes on PUBACK and SUBACK."""

    def __init__(
        self, port: int, username: str | None, password: str | None, client_id: str = "", *, protocol: int = 5
    ) -> None:
        version = mqtt.MQTTv5 if protocol == 5 else mqtt.MQTTv311
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version, reconnect_on_failure=False
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.port = port
        self.connected = Outcome()
        self.disconnected = Outcome()
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._acks: dict[int, Outcome] = {}
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)

    def connect(self, timeout: float = WAIT_SECONDS) -> int:
        """The CONNACK reason code (0 = accepted); the connection stays open when accepted."""
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        codes = self.connected.wait(timeout)
        return codes[0]

    def subscribe(self, topic: str, qos: int = 1) -> int:
        with self._lock:
            _, mid = self.client.subscribe(topic, qos)
            assert mid is not None
            outcome = self._acks.setdefault(mid, Outcome())
        return outcome.wait()[0]

    def publish(self, topic: str, payload: bytes = b"", qos: int = 1) -> int:
        """PUBACK reason code for QoS 1 (0 or 16 = accepted, 135 = not authorized)."""
        with self._lock:
            info = self.client.publish(topic, payload, qos)
            outcome = self._acks.setdefault(info.mid, Outcome())
        if qos == 0:
            return 0
        return outcome.wait()[0]

    def next_message(self, timeout: float = WAIT_SECONDS) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        # paho closes its wake-up socket pair only in __del__, which a reference cycle (our bound
        # callbacks) may run after the sockets' own finalizers: a ResourceWarning under -W error.
        self.client._reset_sockets()

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, code: ReasonCode, _p: Properties | None) -> None:
        self.connected.set([_value(code)])

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, code: ReasonCode, _p: Properties | None) -> None:
        self.disconnected.set([_value(code)])
        if not self.connected.event.is_set():
            self.connected.set([_value(code) or 255])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        with self._lock:
            self._acks.setdefault(mid, Outcome()).set([_value(code) for code in codes])

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, code: ReasonCode, _p: Any) -> None:
        with self._lock:
            self._acks.setdefault(mid, Outcome()).set([_value(code)])


def connect_code(port: int, username: str | None, password: str | None, client_id: str = "", protocol: int = 5) -> int:
    """Connects, returns the CONNACK code and closes again."""
    device = Device(port, username, password, client_id, protocol=protocol)
    try:
        return device.connect()
    finally:
        device.close()
