"""An async admin connection to the dynamic-security plugin: commands go out on
`$CONTROL/dynamic-security/v1`, answers come back on `.../v1/response` and are matched to their
command by `correlationData` (every admin connection receives every answer, so ids are unique).

aiomqtt (on paho-mqtt) rather than paho's own thread loop: it runs on the server's event loop, and
the ~0.1 ms it adds to a round trip is nothing beside the 4-6 ms a mutating command costs the broker
(it rewrites its whole file each time)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiomqtt
import orjson

from admittance.integrations.mosquitto.commands import Command
from admittance.integrations.mosquitto.model import CONTROL_TOPIC, RESPONSE_TOPIC


@dataclass(frozen=True, slots=True)
class Response:
    command: str
    error: str | None
    data: dict[str, Any] | None


class DynsecError(Exception):
    """The plugin refused a command (`error` is its text, e.g. "Client already exists")."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"{response.command}: {response.error}")
        self.response = response


class AdminConnectionLost(Exception):
    """The admin connection closed with commands still unanswered: their outcome is unknown."""


class DynsecAdmin:
    """`async with DynsecAdmin(...) as admin: await admin.run(commands.disable_client("dev-1"))`."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        tls_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._client = aiomqtt.Client(
            host,
            port,
            username=username,
            password=password,
            identifier=f"admittance-dynsec-{uuid.uuid4().hex[:12]}",
            protocol=aiomqtt.ProtocolVersion.V5,
            tls_context=tls_context,
            timeout=timeout,
        )
        self._timeout = timeout
        self._prefix = uuid.uuid4().hex[:12]
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Response]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> DynsecAdmin:
        await self._client.__aenter__()
        await self._client.subscribe(RESPONSE_TOPIC, qos=1)
        self._reader = asyncio.create_task(self._read_responses(), name="dynsec-responses")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._fail_pending()
        await self._client.__aexit__(kind, error, trace)

    async def execute(self, commands: Sequence[Command]) -> list[Response]:
        """Sends the commands in one message and returns their answers in order (errors included)."""
        loop = asyncio.get_running_loop()
        tagged: list[Command] = []
        waiting: list[asyncio.Future[Response]] = []
        for command in commands:
            correlation = f"{self._prefix}-{next(self._ids)}"
            future: asyncio.Future[Response] = loop.create_future()
            self._pending[correlation] = future
            tagged.append({**command, "correlationData": correlation})
            waiting.append(future)
        try:
            await self._client.publish(CONTROL_TOPIC, orjson.dumps({"commands": tagged}), qos=1)
            async with asyncio.timeout(self._timeout):
                return list(await asyncio.gather(*waiting))
        finally:
            for command in tagged:
                self._pending.pop(command["correlationData"], None)

    async def run(self, command: Command) -> Response:
        """One command; raises DynsecError when the plugin refuses it."""
        (response,) = await self.execute([command])
        if response.error is not None:
            raise DynsecError(response)
        return response

    async def _read_responses(self) -> None:
        try:
            async for message in self._client.messages:
                if isinstance(message.payload, bytes | bytearray):
                    self._deliver(bytes(message.payload))
        except aiomqtt.MqttError:
            pass
        finally:
            self._fail_pending()

    def _deliver(self, payload: bytes) -> None:
        try:
            answers = orjson.loads(payload).get("responses", [])
        except (orjson.JSONDecodeError, AttributeError):
            return
        for answer in answers:
            if not isinstance(answer, dict):
                continue
            future = self._pending.get(str(answer.get("correlationData")))
            if future is not None and not future.done():
                data = answer.get("data")
                error = answer.get("error")
                future.set_result(
                    Response(
                        str(answer.get("command")),
                        None if error is None else str(error),
                        data if isinstance(data, dict) else None,
                    )
                )

    def _fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(AdminConnectionLost("the dynsec admin connection closed"))
