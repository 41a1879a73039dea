"""The end-of-session leak check itself: it finds registered secrets in log records, exception text
and server output, whole-word for short codes, and reports them masked."""

from __future__ import annotations

import logging

from tests.support import secrets


def capture_of(name: str) -> tuple[logging.Logger, secrets.LogCapture]:
    capture = secrets.LogCapture()
    logger = logging.getLogger(f"leak-check-probe.{name}")
    logger.propagate = False  # the probe's records stay out of the session's own capture
    logger.setLevel(logging.DEBUG)
    logger.addHandler(capture)
    return logger, capture


def test_registered_secrets_are_found_in_messages_arguments_and_tracebacks() -> None:
    logger, capture = capture_of("a")
    secrets.register("probe-Secret-5150-in-message", "probe-Secret-5150-in-argument", "probe-Secret-5150-in-error")
    logger.info("plain text probe-Secret-5150-in-message")
    logger.warning("argument %s", "probe-Secret-5150-in-argument")
    try:
        raise ValueError("probe-Secret-5150-in-error")
    except ValueError:
        logger.exception("failed")
    found = secrets.leaks(capture)
    assert len(found) == 3
    assert not any("probe-Secret" in line for line in found)  # the report masks them


def test_short_codes_match_only_as_whole_words_and_output_is_checked() -> None:
    logger, capture = capture_of("b")
    secrets.register("918273")
    logger.info("took 19182734 us")  # not a whole word
    assert secrets.leaks(capture) == []
    found = secrets.leaks(capture, [("server output", "code 918273 accepted")])
    assert len(found) == 1


def test_unregistered_and_tiny_values_are_not_reported() -> None:
    logger, capture = capture_of("c")
    secrets.register("abc", None, "")
    logger.info("abc and nothing else")
    assert secrets.leaks(capture) == []
