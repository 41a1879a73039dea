"""Bare reference server for bench/poll.py: the cheapest possible answer to the same poll.

A tiny asyncio.Protocol on uvloop, no HTTP framework: it splits the request stream on the header
terminator and Content-Length, and answers every request with one fixed keep-alive response. The
response has the status (404), media type and size of the server's "not accepted yet" answer, so
that wrk does the same work against both, and the server's figure reads as a ratio to this one.

    python bench/uvloop_responder.py --port 18080
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

import uvloop

BODY = (
    b'{"error":"devicecontrol/Not Found","message":"There is no registration request for device id '
    b'dev-000000 in status ACCEPTED; it is PENDING_ACCEPTANCE.",'
    b'"info":"https://cumulocity.com/guides/reference/rest-implementation/#error_reporting"}'
)
RESPONSE = (
    b"HTTP/1.1 404 Not Found\r\n"
    b"date: Sun, 22 Nov 2026 00:00:00 GMT\r\n"
    b"content-length: %d\r\n"
    b"content-type: application/vnd.com.nsn.cumulocity.error+json;charset=UTF-8;ver=0.9\r\n"
    b"\r\n" % len(BODY)
) + BODY
_HEADER_END = b"\r\n\r\n"
_LENGTH = b"\r\ncontent-length:"


def _content_length(head: bytes) -> int:
    start = head.lower().find(_LENGTH)
    if start < 0:
        return 0
    end = head.find(b"\r\n", start + len(_LENGTH))
    return int(head[start + len(_LENGTH) : end if end >= 0 else None])


class Responder(asyncio.Protocol):
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        answers = 0
        while True:
            end = self._buffer.find(_HEADER_END)
            if end < 0:
                break
            total = end + len(_HEADER_END) + _content_length(bytes(self._buffer[:end]))
            if len(self._buffer) < total:
                break
            del self._buffer[:total]
            answers += 1
        if answers and self._transport is not None:
            self._transport.write(RESPONSE * answers)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Responder, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
