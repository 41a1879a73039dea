"""One bootstrap connection: an asyncio.Protocol (no task per idle connection, so a waiting device
costs a few kilobytes) that speaks just enough MQTT 3.1.1 for the bootstrap: CONNECT, SUBSCRIBE
`s/dcr`, PUBLISH `s/ucr` (QoS 0, 1 or 2), PINGREQ, UNSUBSCRIBE, DISCONNECT."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol, cast

from admittance.mqtt import packets as p
from admittance.mqtt.answers import Admit, DeviceCredentials, Poll, Refused

log = logging.getLogger("admittance.mqtt")

POLL_TOPIC = "s/ucr"
ANSWER_TOPIC = "s/dcr"


@dataclass(frozen=True, slots=True)
class SessionLimits:
    connect_timeout: float = 10.0  # a connection must send CONNECT within this
    max_packet: int = 16384  # bytes of one packet's remaining length (Cumulocity allows 16184 of payload)
    min_poll_interval: float = 1.0  # an s/ucr sooner than this after the last poll is ignored
    max_client_id: int = 256
    silent_timeout: float = 300.0  # for a client with keep-alive 0: closed after this long without a packet


class SessionHost(Protocol):
    """What a session needs of its listener."""

    poll: Poll
    admit: Admit
    limits: SessionLimits

    def opened(self, session: Session) -> None: ...

    def closed(self, session: Session) -> None: ...

    def claim(self, session: Session) -> None: ...

    def release(self, session: Session) -> None: ...


class Session(asyncio.Protocol):
    def __init__(self, host: SessionHost) -> None:
        self.host = host
        self.client_id = ""
        self.source = ""
        self.connected = False
        self._closed = False
        self.subscribed_qos: int | None = None  # granted QoS of s/dcr, None until subscribed
        self._username = ""
        self._password = ""
        self._reader = p.PacketReader(host.limits.max_packet)
        self._transport: asyncio.Transport | None = None
        self._held: list[p.Packet] | None = None  # packets pipelined behind CONNECT while admit runs
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._keepalive = 0.0
        self._last_packet = 0.0
        self._last_poll = -1e9
        self._poll_waiting = False
        self._next_id = 0
        self._incoming_qos2: set[int] = set()

    @property
    def closed(self) -> bool:
        return self._closed

    # asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports (as `admittance serve` runs) are not asyncio.Transport subclasses.
        self._transport = cast(asyncio.Transport, transport)
        self.host.opened(self)
        peer = transport.get_extra_info("peername")
        self.source = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self._timer = asyncio.get_running_loop().call_later(self.host.limits.connect_timeout, self._connect_overdue)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self._last_packet = asyncio.get_running_loop().time()
        try:
            for packet in self._reader.feed(data):
                if self._gone():
                    return
                if self._held is not None:
                    self._held.append(packet)
                else:
                    self._handle(packet)
        except p.MalformedPacket as error:
            log.info("mqtt bootstrap: closing %s (%s): %s", self.source, self.client_id or "no client id", error)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self.connected:
            self.host.release(self)
        self.host.closed(self)

    def close(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.close()

    # packets ----------------------------------------------------------------------------------

    def _handle(self, packet: p.Packet) -> None:
        if not self.connected:
            if packet.kind != p.CONNECT:
                raise p.MalformedPacket("the first packet must be CONNECT")
            self._on_connect(packet)
        elif packet.kind == p.PUBLISH:
            self._on_publish(p.parse_publish(packet))
        elif packet.kind == p.SUBSCRIBE:
            self._on_subscribe(p.parse_subscribe(packet))
        elif packet.kind == p.PINGREQ:
            self._write(p.pingresp())
        elif packet.kind == p.PUBREL:
            packet_id = p.parse_packet_id(packet)
            self._incoming_qos2.discard(packet_id)
            self._write(p.ack(p.PUBCOMP, packet_id))
        elif packet.kind == p.PUBACK:
            p.parse_packet_id(packet)  # the device received its credentials at QoS 1
        elif packet.kind == p.UNSUBSCRIBE:
            unsubscribe = p.parse_unsubscribe(packet)
            if ANSWER_TOPIC in unsubscribe.filters:
                self.subscribed_qos = None
            self._write(p.unsuback(unsubscribe.packet_id))
        elif packet.kind == p.DISCONNECT:
            self.close()
        else:
            raise p.MalformedPacket(f"packet type {packet.kind} is not expected from a client")

    def _on_connect(self, packet: p.Packet) -> None:
        try:
            connect = p.parse_connect(packet)
        except p.UnsupportedProtocol:
            self._refuse(p.UNACCEPTABLE_PROTOCOL_VERSION)
            return
        if not connect.client_id or len(connect.client_id) > self.host.limits.max_client_id:
            self._refuse(p.IDENTIFIER_REJECTED)
            return
        password = _text_or_none(connect.password)
        if connect.username is None or password is None:
            self._refuse(p.BAD_USERNAME_OR_PASSWORD)
            return
        self.client_id, self._username, self._password = connect.client_id, connect.username, password
        self._keepalive = connect.keepalive * 1.5 if connect.keepalive else self.host.limits.silent_timeout
        self._held = []
        self._task = asyncio.get_running_loop().create_task(self._admit())

    async def _admit(self) -> None:
        try:
            admitted = await self.host.admit(
                client_id=self.client_id, username=self._username, password=self._password, source=self.source
            )
        except Exception:
            log.exception("mqtt bootstrap: the CONNECT check of %s failed", self.client_id)
            self._refuse(p.SERVER_UNAVAILABLE)
            return
        if self.closed:
            return
        if not admitted:
            self._refuse(p.BAD_USERNAME_OR_PASSWORD)
            return
        self.connected = True
        self.host.claim(self)
        self._write(p.connack(p.ACCEPTED))
        if self._timer is not None:
            self._timer.cancel()
        self._watch_keepalive()
        held, self._held = self._held or [], None
        self._task = None  # this admit task is done deciding: a held s/ucr may start the first poll
        try:
            for packet in held:
                if not self.closed:
                    self._handle(packet)
        except p.MalformedPacket as error:
            log.info("mqtt bootstrap: closing %s (%s): %s", self.source, self.client_id, error)
            self.close()

    def _on_subscribe(self, subscribe: p.Subscribe) -> None:
        codes: list[int] = []
        for topic, qos in subscribe.filters:
            if topic == ANSWER_TOPIC:
                self.subscribed_qos = min(qos, 1)
                codes.append(self.subscribed_qos)
            else:
                codes.append(p.SUBSCRIPTION_FAILED)
        self._write(p.suback(subscribe.packet_id, codes))
        if self._poll_waiting and self.subscribed_qos is not None:
            self._poll_waiting = False
            self._request_poll(force=True)

    def _on_publish(self, publish: p.Publish) -> None:
        if publish.qos == 1 and publish.packet_id is not None:
            self._write(p.ack(p.PUBACK, publish.packet_id))
        elif publish.qos == 2 and publish.packet_id is not None:
            self._write(p.ack(p.PUBREC, publish.packet_id))
            if publish.packet_id in self._incoming_qos2:
                return  # a resent QoS 2 PUBLISH: already counted
            self._incoming_qos2.add(publish.packet_id)
        if publish.topic == POLL_TOPIC:
            self._request_poll()

    # polls ------------------------------------------------------------------------------------

    def _request_poll(self, *, force: bool = False) -> None:
        if self.subscribed_qos is None:
            self._poll_waiting = True  # c8ydm publishes s/ucr before its SUBSCRIBE is answered
            return
        if self._task is not None and not self._task.done():
            return  # one poll at a time per connection
        now = asyncio.get_running_loop().time()
        if not force and now - self._last_poll < self.host.limits.min_poll_interval:
            return
        self._last_poll = now
        self._task = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        try:
            answer = await self.host.poll(
                client_id=self.client_id, username=self._username, password=self._password, source=self.source
            )
        except Exception:
            log.exception("mqtt bootstrap: the poll of %s failed", self.client_id)
            return
        if isinstance(answer, Refused):
            log.info("mqtt bootstrap: closing %s (%s): credentials no longer bootstrap", self.source, self.client_id)
            self.close()
            return
        if not isinstance(answer, DeviceCredentials):
            return
        if self.closed or self.subscribed_qos is None:
            log.warning("mqtt bootstrap: credentials for %s found its connection gone", self.client_id)
            return
        self._deliver(answer)

    def _deliver(self, answer: DeviceCredentials) -> None:
        qos = self.subscribed_qos or 0
        packet_id = None
        if qos:
            self._next_id = self._next_id % 65535 + 1
            packet_id = self._next_id
        self._write(p.publish(ANSWER_TOPIC, answer.payload(), qos, packet_id))

    # plumbing ---------------------------------------------------------------------------------

    def _gone(self) -> bool:
        """Whether the connection was closed meanwhile (a method: a handled packet may have closed it)."""
        return self._closed

    def _refuse(self, code: int) -> None:
        self._write(p.connack(code))
        self.close()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _connect_overdue(self) -> None:
        if not self.connected:
            log.info("mqtt bootstrap: %s sent no CONNECT in time", self.source)
            self.close()

    def _watch_keepalive(self) -> None:
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        due = self._last_packet + self._keepalive
        if loop.time() >= due:
            log.info("mqtt bootstrap: %s (%s) went silent past its keep-alive", self.source, self.client_id)
            self.close()
            return
        self._timer = loop.call_at(due, self._watch_keepalive)


def _text_or_none(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
