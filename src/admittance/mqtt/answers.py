"""What the bootstrap listener asks of the domain and what it gets back: `admit` at CONNECT, `poll`
for every `s/ucr`; the answer is the device's own credentials or "not yet"."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """The answer to a poll: the SmartREST `70,<tenant>,<username>,<password>` message."""

    tenant: str
    username: str
    password: str

    def payload(self) -> bytes:
        fields = (self.tenant, self.username, self.password)
        return ("70," + ",".join(_smartrest_field(value) for value in fields)).encode("utf-8")


class NotYet:
    """The registration is not accepted yet (or never will be): nothing is sent, the device polls again."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_YET"


class Refused:
    """The connection's credentials no longer bootstrap (rotated, disabled, locked out): the
    listener closes the connection; the device reconnects and its CONNECT is checked afresh."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "REFUSED"


NOT_YET = NotYet()
REFUSED = Refused()
PollAnswer = DeviceCredentials | NotYet | Refused


class Poll(Protocol):
    """One `s/ucr` of client id `client_id`, which connected as `username`/`password` from `source`
    (`host:port`). Called at most once at a time per connection."""

    def __call__(self, *, client_id: str, username: str, password: str, source: str) -> Awaitable[PollAnswer]: ...


class Admit(Protocol):
    """The CONNECT check (may this user bootstrap at all): False answers CONNACK 4 and closes."""

    def __call__(self, *, client_id: str, username: str, password: str, source: str) -> Awaitable[bool]: ...


async def admit_everyone(*, client_id: str, username: str, password: str, source: str) -> bool:
    """The default: `poll` alone decides (the domain's poll checks the bootstrap user anyway)."""
    return True


def _smartrest_field(value: str) -> str:
    """SmartREST is CSV: a value holding a comma, a quote or a line break is quoted, quotes doubled.
    (c8ydm splits on commas without unquoting: generated passwords are letters and digits only.)"""
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value
