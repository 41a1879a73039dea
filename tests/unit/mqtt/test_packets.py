"""The bootstrap listener's MQTT 3.1.1 codec: whole packets out of any split of the byte stream,
and nothing but MalformedPacket / UnsupportedProtocol for bytes that are not MQTT."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from admittance.mqtt import packets as p
from admittance.mqtt.answers import DeviceCredentials


def _one(data: bytes, limit: int = 1 << 20) -> p.Packet:
    (packet,) = p.PacketReader(limit).feed(data)
    return packet


def test_a_connect_reads_back_with_a_colon_client_id() -> None:
    connect = p.parse_connect(_one(p.connect("aa:bb:cc:dd:ee:ff", "management/devicebootstrap", "pw", 30)))
    assert connect == p.Connect("aa:bb:cc:dd:ee:ff", "management/devicebootstrap", b"pw", 30, True)
    legacy = p.parse_connect(_one(p.connect("d1", "u", "pw", level=3)))
    assert legacy.client_id == "d1"


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16383, 16384, 2_097_151, 2_097_152])
def test_the_remaining_length_survives_every_boundary(size: int) -> None:
    data = p.publish("s/ucr", b"x" * size)
    packet = _one(data, limit=size + 16)
    assert p.parse_publish(packet) == p.Publish("s/ucr", b"x" * size, 0, None)


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=7))
def test_a_stream_split_anywhere_gives_the_same_packets(payload: bytes, pieces: int) -> None:
    stream = p.connect("dev") + p.subscribe(7, "s/dcr", 1) + p.publish("s/ucr", payload, 1, 9) + p.pingresp()
    reader = p.PacketReader(1024)
    step = max(1, len(stream) // pieces)
    got = [packet for at in range(0, len(stream), step) for packet in reader.feed(stream[at : at + step])]
    assert [packet.kind for packet in got] == [p.CONNECT, p.SUBSCRIBE, p.PUBLISH, p.PINGRESP]
    assert p.parse_subscribe(got[1]) == p.Subscribe(7, (("s/dcr", 1),))
    assert p.parse_publish(got[2]) == p.Publish("s/ucr", payload, 1, 9)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_malformed_or_unsupported_never_a_crash(data: bytes) -> None:
    parsers = {
        p.CONNECT: p.parse_connect,
        p.PUBLISH: p.parse_publish,
        p.SUBSCRIBE: p.parse_subscribe,
        p.UNSUBSCRIBE: p.parse_unsubscribe,
        p.PUBREL: p.parse_packet_id,
    }
    try:
        for packet in p.PacketReader(256).feed(data):
            parser = parsers.get(packet.kind)
            if parser is not None:
                parser(packet)
    except (p.MalformedPacket, p.UnsupportedProtocol):
        pass


@pytest.mark.parametrize(
    "data",
    [
        bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),  # a fifth remaining-length byte
        bytes([0x82, 0x03, 0x00, 0x01, 0x00]),  # SUBSCRIBE without a topic
        bytes([0x80, 0x08, 0x00, 0x01, 0x00, 0x03]) + b"s/d" + b"\x00",  # SUBSCRIBE flags 0000
        bytes([0x82, 0x08, 0x00, 0x01, 0x00, 0x03]) + b"s/d" + b"\x03",  # requested QoS 3
        bytes([0x36, 0x05, 0x00, 0x01]) + b"t" + b"\x00\x01",  # PUBLISH QoS 3
        bytes([0x30, 0x05, 0x00, 0x03]) + b"a\x00b",  # U+0000 in a topic
        bytes([0x30, 0x04, 0x00, 0x02]) + b"\xff\xfe",  # not UTF-8
    ],
)
def test_malformed_packets_are_refused(data: bytes) -> None:
    with pytest.raises(p.MalformedPacket):
        _parse_all(data)


def _parse_all(data: bytes) -> None:
    parsers = {p.CONNECT: p.parse_connect, p.PUBLISH: p.parse_publish, p.SUBSCRIBE: p.parse_subscribe}
    for packet in p.PacketReader(1 << 20).feed(data):
        parsers[packet.kind](packet)


def test_a_packet_over_the_limit_is_refused_before_it_is_buffered() -> None:
    with pytest.raises(p.MalformedPacket, match="over the limit"):
        p.PacketReader(100).feed(p.publish("s/ucr", b"x" * 200)[:5])


def test_an_mqtt_5_connect_is_unsupported_not_malformed() -> None:
    body = b"\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x01a"
    with pytest.raises(p.UnsupportedProtocol):
        p.parse_connect(_one(bytes([0x10, len(body)]) + body))


def test_credentials_are_a_smartrest_70_message() -> None:
    assert DeviceCredentials("t1", "device_d1", "Abc123").payload() == b"70,t1,device_d1,Abc123"
    assert DeviceCredentials("t1", "u", 'a,b"c').payload() == b'70,t1,u,"a,b""c"'
