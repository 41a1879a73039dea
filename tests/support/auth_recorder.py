"""A tiny HTTP server that stands in for Admittance's broker auth endpoints: it records every request
a broker sends (method, path, parameters from the query string or the form body) and answers from a
policy function, so tests can see exactly what the broker asks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from tests.support.postgres import free_port


@dataclass(frozen=True)
class AuthRequest:
    method: str
    path: str
    params: dict[str, str]
    in_query: bool  # parameters came in the query string (GET), else in a form body (POST)
    content_type: str | None


Policy = Callable[[AuthRequest], str]


def allow_all(request: AuthRequest) -> str:
    return "allow"


class AuthRecorder:
    def __init__(self, policy: Policy = allow_all) -> None:
        self.port = free_port()
        self.requests: list[AuthRequest] = []
        self.policy = policy
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="auth-recorder", daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/auth"

    def start(self) -> AuthRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def taken(self) -> list[AuthRequest]:
        """The requests so far, and forget them."""
        with self._lock:
            taken, self.requests = self.requests, []
        return taken

    def _record(self, request: AuthRequest) -> str:
        with self._lock:
            self.requests.append(request)
        return self.policy(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                self._answer(AuthRequest("GET", url.path, dict(parse_qsl(url.query)), True, None))

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                params = dict(parse_qsl(body))
                self._answer(AuthRequest("POST", url.path, params, False, self.headers.get("Content-Type")))

            def _answer(self, request: AuthRequest) -> None:
                body = recorder._record(request).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, message_format: str, *args: object) -> None:
                return  # parameters carry passwords: nothing goes to stderr

        return Handler
