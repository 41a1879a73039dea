"""The secrets a test run sends or receives, and every log line it writes: at the end of the session
no registered secret may appear in any log record, exception text or server output (issue 4).

Test helpers call `register(...)` with each password, token, one-time password, backup code, MFA
challenge and generated device password they send or receive. tests/conftest.py installs
`LogCapture` on the root logger for the whole session and checks `leaks()` when the session ends;
tests that start server processes hand their output to `add_output`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

# Shorter values (6-digit codes, say) also occur by chance in timestamps, ids and durations: they are
# checked only as whole words, longer ones anywhere.
_MIN_CHARS = 4
_lock = threading.Lock()
_secrets: set[str] = set()
_outputs: list[tuple[str, str]] = []


def register(*values: str | None) -> None:
    with _lock:
        for value in values:
            if value and len(value) >= _MIN_CHARS:
                _secrets.add(value)


def registered() -> frozenset[str]:
    with _lock:
        return frozenset(_secrets)


def add_output(name: str, text: str) -> None:
    """Output of a server process or CLI run (stdout and stderr), checked like log records."""
    with _lock:
        _outputs.append((name, text))


class LogCapture(logging.Handler):
    """Keeps every formatted record (message, arguments and exception text) of the session."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is kept raw
            text = f"{record.msg!r} {record.args!r}"
        with _lock:
            self.records.append(text)


def _contains(text: str, secret: str) -> bool:
    if len(secret) >= 8:
        return secret in text
    start = text.find(secret)
    while start >= 0:
        before = text[start - 1] if start > 0 else " "
        end = start + len(secret)
        after = text[end] if end < len(text) else " "
        if not before.isalnum() and not after.isalnum():
            return True
        start = text.find(secret, start + 1)
    return False


def leaks(capture: LogCapture, extra: Iterable[tuple[str, str]] = ()) -> list[str]:
    """Where registered secrets appear: one line per (secret, place), the secret itself masked."""
    secrets = registered()
    with _lock:
        texts = [("log", record) for record in capture.records] + list(_outputs) + list(extra)
    everything = "\n".join(text for _, text in texts)  # one fast substring search per secret first
    found: list[str] = []
    for secret in secrets:
        if secret not in everything:
            continue
        for place, text in texts:
            if _contains(text, secret):
                masked = text.replace(secret, "<SECRET>")[:300]
                found.append(f"a secret of {len(secret)} characters in {place}: {masked!r}")
    return found
