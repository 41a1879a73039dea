"""The registration lifecycle as pure rules: polls, acceptance, tokens, and device id validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from admittance.devices.model import (
    PollAction,
    RegistrationRequest,
    RegistrationStatus,
    decide_accept,
    decide_poll,
    validate_device_id,
    validate_enrollable_id,
)
from admittance.identity.model import SecurityTokenPolicy
from admittance.kernel.errors import InvalidInput, InvalidState

NOW = datetime(2026, 1, 1, tzinfo=UTC)
W, P, A, B = (
    RegistrationStatus.WAITING_FOR_CONNECTION,
    RegistrationStatus.PENDING_ACCEPTANCE,
    RegistrationStatus.ACCEPTED,
    RegistrationStatus.BLOCKED,
)
IGN, OPT, REQ = SecurityTokenPolicy.IGNORED, SecurityTokenPolicy.OPTIONAL, SecurityTokenPolicy.REQUIRED


def request(status: RegistrationStatus, *, token: bool = False, failures: int = 0) -> RegistrationRequest:
    return RegistrationRequest(
        "dev-1",
        "t1",
        status,
        "admin",
        NOW,
        NOW,
        security_token_digest="d" * 64 if token else None,
        token_failures=failures,
    )


@pytest.mark.parametrize(
    ("status", "stored", "sent", "matches", "policy", "action", "record"),
    [
        pytest.param(W, False, False, None, OPT, PollAction.MARK_PENDING, False, id="first-poll"),
        pytest.param(W, False, True, None, OPT, PollAction.MARK_PENDING, True, id="first-poll-records-token"),
        pytest.param(W, False, True, None, IGN, PollAction.MARK_PENDING, False, id="ignored-policy-no-token"),
        pytest.param(W, False, False, None, REQ, PollAction.BLOCK, False, id="required-without-token-blocks"),
        pytest.param(W, False, True, None, REQ, PollAction.MARK_PENDING, True, id="required-with-token"),
        pytest.param(P, False, False, None, OPT, PollAction.WAIT, False, id="pending-waits"),
        pytest.param(P, False, True, None, OPT, PollAction.RECORD_TOKEN, True, id="pending-late-token"),
        pytest.param(P, True, True, False, OPT, PollAction.WAIT, False, id="pending-keeps-first-token"),
        pytest.param(A, False, False, None, OPT, PollAction.ISSUE, False, id="accepted-issues"),
        pytest.param(A, True, True, True, OPT, PollAction.ISSUE, False, id="accepted-right-token"),
        pytest.param(A, True, True, False, OPT, PollAction.TOKEN_MISMATCH, False, id="accepted-wrong-token"),
        pytest.param(A, True, False, False, OPT, PollAction.TOKEN_MISMATCH, False, id="accepted-no-token"),
        pytest.param(A, True, False, False, IGN, PollAction.ISSUE, False, id="accepted-ignored-policy"),
        pytest.param(B, False, False, None, OPT, PollAction.WAIT, False, id="blocked-waits"),
    ],
)
def test_poll_decisions(status, stored, sent, matches, policy, action, record) -> None:
    decision = decide_poll(
        request(status, token=stored), token_sent=sent, token_matches=matches, policy=policy, max_token_failures=3
    )
    assert decision.action is action
    assert decision.record_token is record


def test_repeated_token_mismatch_on_poll_blocks_at_the_limit() -> None:
    decision = decide_poll(
        request(A, token=True, failures=2), token_sent=True, token_matches=False, policy=OPT, max_token_failures=3
    )
    assert decision.action is PollAction.TOKEN_MISMATCH
    assert decision.block


@pytest.mark.parametrize("status", [W, B])
def test_accept_refused_unless_pending(status: RegistrationStatus) -> None:
    with pytest.raises(InvalidState):
        decide_accept(request(status), token_matches=None, policy=OPT, max_token_failures=3)


def test_accept_twice_changes_nothing() -> None:
    decision = decide_accept(request(A), token_matches=None, policy=OPT, max_token_failures=3)
    assert not decision.accept
    assert not decision.token_mismatch


@pytest.mark.parametrize(
    ("stored", "matches", "policy", "accept", "mismatch"),
    [
        pytest.param(False, None, OPT, True, False, id="no-token-anywhere"),
        pytest.param(True, True, OPT, True, False, id="matching-token"),
        pytest.param(True, False, OPT, False, True, id="wrong-or-missing-token"),
        pytest.param(True, False, REQ, False, True, id="required-wrong-token"),
        pytest.param(True, False, IGN, True, False, id="ignored-policy"),
    ],
)
def test_accept_token_rules(stored, matches, policy, accept, mismatch) -> None:
    decision = decide_accept(request(P, token=stored), token_matches=matches, policy=policy, max_token_failures=3)
    assert (decision.accept, decision.token_mismatch) == (accept, mismatch)


def test_third_mismatch_blocks() -> None:
    decision = decide_accept(request(P, token=True, failures=2), token_matches=False, policy=OPT, max_token_failures=3)
    assert decision.token_mismatch
    assert decision.block


@pytest.mark.parametrize(
    "device_id",
    ["", "   ", "x" * 1001, "é" * 1001, "🙂" * 600, "a\nb", "a\tb", "a\x00b", "a\x7fb", "a\x85b"],
    ids=[
        "empty",
        "blank",
        "1001-chars",
        "1001-accented",
        "over-2000-bytes",
        "newline",
        "tab",
        "nul",
        "del",
        "c1-control",
    ],
)
def test_invalid_device_ids(device_id: str) -> None:
    with pytest.raises(InvalidInput):
        validate_device_id(device_id)


@pytest.mark.parametrize(
    "device_id", ["dev-1", "x" * 1000, "é" * 1000, "a b", "a/b", "SN#42", "日本語", "aa:bb:cc:dd:ee:ff"]
)
def test_valid_device_ids(device_id: str) -> None:
    assert validate_device_id(device_id) == device_id


def test_a_mac_address_is_an_id_but_cannot_enroll_over_est() -> None:
    """MQTT carries the user name device_<MAC> apart from the password; EST's Basic `<id>:<otp>` cannot."""
    assert validate_enrollable_id("dev-1") == "dev-1"
    with pytest.raises(InvalidInput, match="must not contain ':'"):
        validate_enrollable_id("aa:bb:cc:dd:ee:ff")
