"""A stand-in for the registration state machine behind the MQTT bootstrap listener: it records
every poll, answers "not yet" until a test accepts a device, then hands out that device's
credentials exactly once (as the real state machine does)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from admittance.mqtt.answers import NOT_YET, DeviceCredentials, PollAnswer

BOOTSTRAP_USERNAME = "management/devicebootstrap"
BOOTSTRAP_PASSWORD = "bootstrap-Mqtt-Secret-7"
WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class PollCall:
    client_id: str
    username: str
    password: str
    source: str


class Registrations:
    def __init__(self) -> None:
        self.polls: list[PollCall] = []
        self.handed_out: list[str] = []
        self._accepted: dict[str, DeviceCredentials] = {}
        self._changed = asyncio.Condition()

    def accept(self, client_id: str, credentials: DeviceCredentials) -> None:
        self._accepted[client_id] = credentials

    async def admit(self, *, client_id: str, username: str, password: str, source: str) -> bool:
        return (username, password) == (BOOTSTRAP_USERNAME, BOOTSTRAP_PASSWORD)

    async def poll(self, *, client_id: str, username: str, password: str, source: str) -> PollAnswer:
        async with self._changed:
            self.polls.append(PollCall(client_id, username, password, source))
            self._changed.notify_all()
        answer = self._accepted.pop(client_id, None)
        if answer is None:
            return NOT_YET
        self.handed_out.append(client_id)
        return answer

    def polls_of(self, client_id: str) -> int:
        return sum(1 for call in self.polls if call.client_id == client_id)

    async def wait_for_polls(self, client_id: str, count: int = 1) -> None:
        async with asyncio.timeout(WAIT_SECONDS), self._changed:
            await self._changed.wait_for(lambda: self.polls_of(client_id) >= count)
