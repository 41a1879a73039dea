"""The claim token parser: every malformed case is a MalformedInput with a clear message; fuzzing
finds nothing else."""

from __future__ import annotations

import base64
import os
import uuid

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admittance.claiming.token import (
    MAX_TOKEN_CHARS,
    ClaimToken,
    device_type_label,
    mint_claim_token,
    parse_claim_token,
    verify_signature,
)
from admittance.kernel.errors import MalformedInput
from tests.support.nrf import b64u, device_key, mint, raw_token

# The example token layout of spec a.1 (signature zeroed): device 4961c873-..., type 3, kid -2.
_EXAMPLE_BODY = bytes.fromhex("d9d9f78501504961c873408c45ceb1ba7c0d99d881790350") + bytes(16) + b"\x50" + bytes(16)
_EXAMPLE_COSE = bytes.fromhex("d28443a10126a1044121f65840") + bytes(64)


def test_a_minted_token_parses_and_verifies() -> None:
    key = device_key()
    device, firmware, nonce = str(uuid.uuid4()), str(uuid.uuid4()), os.urandom(16)
    text = mint_claim_token(key, device.upper(), device_type=4, firmware_uuid=firmware, nonce=nonce)
    assert text.startswith("2dn3hQFQ")
    token = parse_claim_token(text)
    assert isinstance(token, ClaimToken)
    assert (token.device_uuid, token.device_type, token.firmware_uuid, token.nonce) == (device, 4, firmware, nonce)
    assert token.message_type == 1
    assert token.kid == -2
    assert len(token.signature) == 64
    assert verify_signature(token, key.public_key())
    assert not verify_signature(token, device_key().public_key())


def test_the_documented_example_layout_parses() -> None:
    token = parse_claim_token(b64u(_EXAMPLE_BODY) + "." + b64u(_EXAMPLE_COSE))
    assert token.device_uuid == "4961c873-408c-45ce-b1ba-7c0d99d88179"
    assert token.device_type == 3
    assert token.kid == -2
    assert token.device_type_name == "NRF9160 SIAA"


def test_padding_and_surrounding_whitespace_are_tolerated() -> None:
    body, cose = mint().split(".")
    pad = lambda part: part + "=" * (-len(part) % 4)  # noqa: E731
    assert parse_claim_token(f"  {pad(body)}.{pad(cose)}\r\n").message_type == 1


def test_device_type_labels() -> None:
    assert device_type_label(1) == "nrf9160_SIAA"
    assert device_type_label(3) == "nrf9160_SIAA"
    assert device_type_label(6) == "nrf9151_LACA"
    assert device_type_label(99) == "unknown"


def _refused(text: str, fragment: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        parse_claim_token(text)
    assert fragment in str(caught.value), str(caught.value)


_UUID = uuid.uuid4().bytes
_FW = uuid.uuid4().bytes
_NONCE = os.urandom(16)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: "", "empty"),
        (lambda: "abc", "two base64url parts"),
        (lambda: mint() + ".abc", "not 3 part"),
        (lambda: "." + mint().split(".")[1], "message (part 1) is empty"),
        (lambda: mint().split(".")[0] + ".", "part 2) is empty"),
        (lambda: "a+b/" + "." + mint().split(".")[1], "not base64url"),
        (lambda: "abcde" + "." + mint().split(".")[1], "length is impossible"),
        (lambda: "ab=c" + "." + mint().split(".")[1], "not base64url"),
        (lambda: "x" * (MAX_TOKEN_CHARS + 1), "too long"),
        (lambda: b64u(b"\x85\x01") + "." + mint().split(".")[1], "self-describe tag"),
        (lambda: raw_token(body=b"\xd9\xd9\xf7"), "array inside the self-describe"),
        (lambda: raw_token(body=b"\xd9\xd9\xf7\x01"), "array inside the self-describe"),
        (lambda: raw_token(body=b"\xd9\xd9\xf7\x85\x01"), "not valid CBOR"),
        (lambda: raw_token(body=cbor2.dumps(cbor2.CBORTag(55799, [1, _UUID, 6, _FW, _NONCE])) + b"\x00"), "after"),
        (lambda: raw_token([1, _UUID, 6, _FW]), "exactly 5 items, not 4"),
        (lambda: raw_token([1, _UUID, 6, _FW, _NONCE, 0]), "exactly 5 items, not 6"),
        (lambda: raw_token([2, _UUID, 6, _FW, _NONCE]), "Unknown claim token message type 2"),
        (lambda: raw_token(["1", _UUID, 6, _FW, _NONCE]), "message type must be an integer"),
        (lambda: raw_token([True, _UUID, 6, _FW, _NONCE]), "message type must be an integer"),
        (lambda: raw_token([1, _UUID[:15], 6, _FW, _NONCE]), "device UUID must be a byte string of 16"),
        (lambda: raw_token([1, str(uuid.uuid4()), 6, _FW, _NONCE]), "device UUID must be"),
        (lambda: raw_token([1, _UUID, "6", _FW, _NONCE]), "device type must be"),
        (lambda: raw_token([1, _UUID, -1, _FW, _NONCE]), "device type must be"),
        (lambda: raw_token([1, _UUID, 2**40, _FW, _NONCE]), "device type must be"),
        (lambda: raw_token([1, _UUID, 6, b"x", _NONCE]), "firmware UUID must be"),
        (lambda: raw_token([1, _UUID, 6, _FW, _NONCE + b"x"]), "nonce must be a byte string of 16"),
        (lambda: raw_token(cose=b"\xff"), "signature part is not valid CBOR"),
        (lambda: raw_token(cose=cbor2.dumps([b"", {}, None, bytes(64)])), "COSE_Sign1 (CBOR tag 18)"),
        (lambda: raw_token(cose=cbor2.dumps(cbor2.CBORTag(98, [b"", {}, None, bytes(64)]))), "tag 18"),
        (lambda: raw_token(cose=cbor2.dumps(cbor2.CBORTag(18, [b"", {}, None]))), "array of 4 items"),
        (lambda: raw_token(cose=cbor2.dumps(cbor2.CBORTag(18, {}))), "array of 4 items"),
        (lambda: raw_token(protected=cbor2.dumps({1: -35})), "Unsupported claim token signature algorithm -35"),
        (lambda: raw_token(protected=cbor2.dumps({1: "ES256"})), "Unsupported"),
        (lambda: raw_token(protected=b""), "Unsupported"),
        (lambda: raw_token(protected=cbor2.dumps([1, -7])), "protected header must be a CBOR map"),
        (lambda: raw_token(protected=b"\xa1\x01"), "protected header is not valid CBOR"),
        (lambda: raw_token(cose=cbor2.dumps(cbor2.CBORTag(18, ["x", {}, None, bytes(64)]))), "must be a byte str"),
        (lambda: raw_token(unprotected=[4, 2]), "unprotected header must be a CBOR map"),
        (lambda: raw_token(unprotected={4: -2}), "key id (kid) must be a byte string"),
        (lambda: raw_token(unprotected={4: b"ab"}), "must hold a CBOR integer"),
        (lambda: raw_token(payload=b"payload"), "payload must be nil"),
        (lambda: raw_token(signature=bytes(63)), "64 bytes"),
        (lambda: raw_token(signature=bytes(65)), "64 bytes"),
        (lambda: raw_token(signature="00" * 32), "64 bytes"),  # type: ignore[arg-type]
        (
            lambda: raw_token(
                cose=cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -7}), {}, None, bytes(64)])) + b"\x00"
            ),
            "after",
        ),
        (lambda: b64u(b"\xd9\xd9\xf7" + b"\x81" * 50 + b"\x01") + "." + mint().split(".")[1], "not valid CBOR"),
    ],
)
def test_malformed_tokens_are_refused_with_a_reason(make: object, fragment: str) -> None:
    assert callable(make)
    _refused(make(), fragment)


def test_a_token_without_kid_parses() -> None:
    assert parse_claim_token(raw_token(unprotected={})).kid is None


def _check(text: str) -> None:
    try:
        result = parse_claim_token(text)
    except MalformedInput:
        return
    assert isinstance(result, ClaimToken)


_VALID = mint_claim_token(device_key(), str(uuid.uuid4()))
_FUZZ = settings(derandomize=True, max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@_FUZZ
@given(st.text(max_size=300))
def test_fuzz_random_text(text: str) -> None:
    _check(text)


@_FUZZ
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_fuzz_random_bytes_in_both_parts(first: bytes, second: bytes) -> None:
    _check(b64u(first) + "." + b64u(second))
    _check(b64u(b"\xd9\xd9\xf7" + first) + "." + b64u(b"\xd2" + second))


@_FUZZ
@given(st.data())
def test_fuzz_mutated_valid_tokens(data: st.DataObject) -> None:
    body, cose = (bytearray(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in _VALID.split("."))
    for _ in range(data.draw(st.integers(1, 4))):
        target = data.draw(st.sampled_from([body, cose]))
        position = data.draw(st.integers(0, max(len(target) - 1, 0)))
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if action == "flip" and target:
            target[position] ^= data.draw(st.integers(1, 255))
        elif action == "insert":
            target[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        elif action == "delete" and len(target) > 1:
            del target[position]
        else:
            del target[position:]
    _check(b64u(bytes(body)) + "." + b64u(bytes(cose)))


@_FUZZ
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=", max_size=400))
def test_fuzz_base64url_alphabet(text: str) -> None:
    _check(text)
