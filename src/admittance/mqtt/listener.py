"""The Cumulocity MQTT bootstrap listener: every empty `s/ucr` from client id X is a poll of
registration X (`poll`), and an answer goes out as `70,<tenant>,<username>,<password>` on `s/dcr`
to that one connection only, although every bootstrapping device shares one user and the same
topic names (which is why a plain broker cannot do this: it would send it to all of them)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from admittance.mqtt.answers import Admit, Poll, admit_everyone
from admittance.mqtt.session import Session, SessionLimits


class BootstrapListener:
    """`await BootstrapListener(poll).start(host, port)` ... `await listener.close()`."""

    def __init__(
        self,
        poll: Poll,
        admit: Admit = admit_everyone,
        *,
        limits: SessionLimits | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 10_000,
    ) -> None:
        self.poll = poll
        self.admit = admit
        self.limits = limits or SessionLimits()
        self._ssl = ssl_context
        self._max_connections = max_connections
        self._server: asyncio.Server | None = None
        self.sessions: dict[str, Session] = {}  # client id -> its one live session
        self._open: set[Session] = set()  # every connection, admitted or not
        self._all_closed = asyncio.Event()

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the listener is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, reuse_port: bool = False) -> BootstrapListener:
        """Listen. `reuse_port`: several server processes share the port (the kernel spreads the
        connections); the one-session-per-client-id rule then holds within each process."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Session(self), host, port, ssl=self._ssl, reuse_port=reuse_port or None, backlog=1024
        )
        return self

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for session in list(self._open):
            session.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                if self._open:
                    self._all_closed.clear()
                    await self._all_closed.wait()
                await self._server.wait_closed()
        self._server = None

    def opened(self, session: Session) -> None:
        if len(self._open) >= self._max_connections:
            session.close()  # over the cap: not kept, not counted
            return
        self._open.add(session)

    def closed(self, session: Session) -> None:
        self._open.discard(session)
        if not self._open:
            self._all_closed.set()

    def claim(self, session: Session) -> None:
        """One session per client id: a newer CONNECT with the same id closes the older (3.1.1, 3.1.4-2),
        so an answer can only ever reach the newest connection of that device."""
        older = self.sessions.get(session.client_id)
        self.sessions[session.client_id] = session
        if older is not None and older is not session:
            older.close()

    def release(self, session: Session) -> None:
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]
