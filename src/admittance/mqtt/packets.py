"""The MQTT 3.1 / 3.1.1 packets a bootstrap listener needs, decoded from and encoded to bytes
(OASIS MQTT 3.1.1, chapter 2-3). No I/O: `PacketReader.feed` takes what the socket gave and returns
whole packets; anything malformed raises `MalformedPacket`, after which the connection is closed."""

from __future__ import annotations

import struct
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

# CONNACK return codes of 3.1.1 (section 3.2.2.3)
ACCEPTED = 0
UNACCEPTABLE_PROTOCOL_VERSION = 1
IDENTIFIER_REJECTED = 2
SERVER_UNAVAILABLE = 3
BAD_USERNAME_OR_PASSWORD = 4
NOT_AUTHORIZED = 5
SUBSCRIPTION_FAILED = 0x80

_PROTOCOLS = {(b"MQTT", 4), (b"MQIsdp", 3)}  # 3.1.1 and 3.1; MQTT 5 (level 5) is refused with code 1


class MalformedPacket(Exception):
    """The bytes are not MQTT 3.1.1 as the specification requires: the server closes the connection."""


class UnsupportedProtocol(Exception):
    """A CONNECT of another protocol level (MQTT 5): answered with CONNACK 1, then closed."""


@dataclass(frozen=True, slots=True)
class Packet:
    kind: int
    flags: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Connect:
    client_id: str
    username: str | None
    password: bytes | None
    keepalive: int
    clean_session: bool


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    packet_id: int | None


@dataclass(frozen=True, slots=True)
class Subscribe:
    packet_id: int
    filters: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    packet_id: int
    filters: tuple[str, ...]


class PacketReader:
    """Splits a byte stream into packets. `limit` bounds the remaining length of any one packet."""

    __slots__ = ("_buffer", "_limit")

    def __init__(self, limit: int) -> None:
        self._buffer = bytearray()
        self._limit = limit

    def feed(self, data: bytes) -> list[Packet]:
        self._buffer += data
        packets: list[Packet] = []
        while (packet := self._next()) is not None:
            packets.append(packet)
        return packets

    def _next(self) -> Packet | None:
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        length, multiplier, index = 0, 1, 1
        while True:
            if index >= len(buffer):
                return None
            byte = buffer[index]
            length += (byte & 0x7F) * multiplier
            index += 1
            if not byte & 0x80:
                break
            multiplier *= 128
            if index > 4:
                raise MalformedPacket("remaining length longer than four bytes")
        if length > self._limit:
            raise MalformedPacket(f"packet of {length} bytes over the limit of {self._limit}")
        if len(buffer) < index + length:
            return None
        packet = Packet(buffer[0] >> 4, buffer[0] & 0x0F, bytes(buffer[index : index + length]))
        del buffer[: index + length]
        return packet


class _Cursor:
    __slots__ = ("at", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, count: int) -> bytes:
        if self.at + count > len(self.data):
            raise MalformedPacket("packet ends early")
        chunk = self.data[self.at : self.at + count]
        self.at += count
        return chunk

    def uint8(self) -> int:
        return self.take(1)[0]

    def uint16(self) -> int:
        return int(struct.unpack("!H", self.take(2))[0])

    def binary(self) -> bytes:
        return self.take(self.uint16())

    def text(self) -> str:
        raw = self.binary()
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedPacket("a string is not UTF-8") from error
        if "\x00" in value:
            raise MalformedPacket("a string holds U+0000")
        return value

    def rest(self) -> bytes:
        chunk = self.data[self.at :]
        self.at = len(self.data)
        return chunk

    def done(self) -> bool:
        return self.at == len(self.data)


def parse_connect(packet: Packet) -> Connect:
    cursor = _Cursor(packet.body)
    protocol = (cursor.binary(), cursor.uint8())
    if protocol not in _PROTOCOLS:
        if protocol[0] in (b"MQTT", b"MQIsdp"):
            raise UnsupportedProtocol(f"protocol level {protocol[1]}")
        raise MalformedPacket("not an MQTT CONNECT")
    flags = cursor.uint8()
    if flags & 0x01:
        raise MalformedPacket("reserved CONNECT flag set")
    keepalive = cursor.uint16()
    client_id = cursor.text()
    if flags & 0x04:  # a will: read and dropped, a bootstrap listener publishes no wills
        cursor.text()
        cursor.binary()
    elif flags & 0x38:
        raise MalformedPacket("will QoS or retain without a will")
    username = cursor.text() if flags & 0x80 else None
    password = cursor.binary() if flags & 0x40 else None
    if not cursor.done():
        raise MalformedPacket("bytes after the CONNECT payload")
    return Connect(client_id, username, password, keepalive, bool(flags & 0x02))


def parse_publish(packet: Packet) -> Publish:
    qos = (packet.flags >> 1) & 0x03
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")
    cursor = _Cursor(packet.body)
    topic = cursor.text()
    packet_id = cursor.uint16() if qos else None
    return Publish(topic, cursor.rest(), qos, packet_id)


def parse_subscribe(packet: Packet) -> Subscribe:
    if packet.flags != 0b0010:
        raise MalformedPacket("SUBSCRIBE flags must be 0010")
    cursor = _Cursor(packet.body)
    packet_id = cursor.uint16()
    filters: list[tuple[str, int]] = []
    while not cursor.done():
        topic = cursor.text()
        qos = cursor.uint8()
        if qos > 2:
            raise MalformedPacket("requested QoS over 2")
        filters.append((topic, qos))
    if not filters:
        raise MalformedPacket("SUBSCRIBE without a topic filter")
    return Subscribe(packet_id, tuple(filters))


def parse_unsubscribe(packet: Packet) -> Unsubscribe:
    if packet.flags != 0b0010:
        raise MalformedPacket("UNSUBSCRIBE flags must be 0010")
    cursor = _Cursor(packet.body)
    packet_id = cursor.uint16()
    filters: list[str] = []
    while not cursor.done():
        filters.append(cursor.text())
    if not filters:
        raise MalformedPacket("UNSUBSCRIBE without a topic filter")
    return Unsubscribe(packet_id, tuple(filters))


def parse_packet_id(packet: Packet) -> int:
    cursor = _Cursor(packet.body)
    packet_id = cursor.uint16()
    if not cursor.done():
        raise MalformedPacket("bytes after the packet id")
    return packet_id


def _frame(first: int, body: bytes) -> bytes:
    length = len(body)
    header = bytearray([first])
    while True:
        byte = length % 128
        length //= 128
        header.append(byte | 0x80 if length else byte)
        if not length:
            return bytes(header) + body


def _text(value: str) -> bytes:
    raw = value.encode("utf-8")
    return struct.pack("!H", len(raw)) + raw


def connack(code: int, session_present: bool = False) -> bytes:
    return bytes([CONNACK << 4, 2, int(session_present), code])


def suback(packet_id: int, codes: list[int]) -> bytes:
    return _frame(SUBACK << 4, struct.pack("!H", packet_id) + bytes(codes))


def unsuback(packet_id: int) -> bytes:
    return _frame(UNSUBACK << 4, struct.pack("!H", packet_id))


def ack(kind: int, packet_id: int) -> bytes:
    """PUBACK, PUBREC or PUBCOMP (PUBREL carries flags 0010)."""
    return bytes([kind << 4 | (0b0010 if kind == PUBREL else 0), 2]) + struct.pack("!H", packet_id)


def pingresp() -> bytes:
    return bytes([PINGRESP << 4, 0])


def publish(topic: str, payload: bytes, qos: int = 0, packet_id: int | None = None) -> bytes:
    body = _text(topic)
    if qos:
        if packet_id is None:
            raise ValueError("a QoS 1 or 2 PUBLISH needs a packet id")
        body += struct.pack("!H", packet_id)
    return _frame(PUBLISH << 4 | qos << 1, body + payload)


def connect(
    client_id: str, username: str | None = None, password: str | None = None, keepalive: int = 60, level: int = 4
) -> bytes:
    """A client's CONNECT: for tests and the benchmark, which speak to the listener without a library."""
    name = b"MQTT" if level == 4 else b"MQIsdp"
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = struct.pack("!H", len(name)) + name + bytes([level, flags]) + struct.pack("!H", keepalive)
    body += _text(client_id)
    if username is not None:
        body += _text(username)
    if password is not None:
        body += _text(password)
    return _frame(CONNECT << 4, body)


def subscribe(packet_id: int, topic: str, qos: int = 0) -> bytes:
    return _frame(SUBSCRIBE << 4 | 0b0010, struct.pack("!H", packet_id) + _text(topic) + bytes([qos]))
