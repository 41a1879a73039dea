"""Hostile values in every query parameter, header and path parameter of every route of every
surface (the console included) get a client error, never a 5xx.

The routes come from the app itself and the parameter and header names from the source (every
call of a reader in admittance.http.params, and what the edge still reads by hand), so a new route
or a new parameter is covered without touching this test. Each route gets several drawn requests
as the administrator (Basic for the APIs, a signed-in console session with its CSRF token for the
console), each with hostile values in its path parameters and in a few query parameters and
headers. SQLite only: the edge is the same on both databases.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.routing import Route

import admittance.http
from admittance.bootstrap import Services, build_services, first_start
from admittance.http.app import Admittance, create_app
from admittance.settings import Settings
from admittance.storage.location import DatabaseLocation
from tests.support.console import ConsoleClient, csrf_of
from tests.support.credentials import ADMIN_PASSWORD
from tests.support.settings import with_settings

HOSTILE = (
    "\u00b2",  # superscript two: str.isdigit() is True, int() refuses it
    "\u0663",  # Arabic-Indic three: str.isdecimal() is True, int() reads 3
    "1" + "0" * 30,  # 10^30
    "-1",
    "-" + "9" * 30,
    "NaN",
    "Infinity",
    "1e309",
    "",
    "\x00",
    "a\x00b",
    "9" * 10_240,  # 10 kB of digits: past int()'s 4,300-digit limit
    "x" * 10_240,
    "%",
    "../..",
)
ALWAYS_SENT_HEADERS = ("content-length", "content-type", "accept", "host", "authorization")
EXAMPLES_PER_ROUTE = 8
BASE = "https://testserver"
ADMIN = "Basic " + base64.b64encode(f"t1/admin:{ADMIN_PASSWORD}".encode()).decode()
_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")
_QUERY_READERS = frozenset(
    {
        "query",
        "query_number",
        "query_flag",
        "query_list",
        "query_values",
        "query_int",
        "query_bool",
        "flag",
        "_int_param",
    }
)
_HEADER_READERS = frozenset({"header", "has_header", "header_number"})


def _constants(tree: ast.Module) -> dict[str, str]:
    """The module's string constants (`HOOK_HEADER = "vernemq-hook"`)."""
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found |= {target.id: node.value.value for target in node.targets if isinstance(target, ast.Name)}
    return found


def _name_argument(call: ast.Call, constants: dict[str, str]) -> list[str]:
    """The name a reader is called with: its first string argument, spelled out or a module constant."""
    for arg in call.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return [arg.value]
        if isinstance(arg, ast.Name) and arg.id in constants:
            return [constants[arg.id]]
    return []


def _names_read_in(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(query parameter names, header names) that the module's calls read."""
    constants = _constants(tree)
    queries: set[str] = set()
    headers: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
        if name in _QUERY_READERS or (name in ("get", "getlist") and receiver.endswith(("query_params", "query"))):
            queries.update(_name_argument(node, constants))
        elif name in _HEADER_READERS or (name == "get" and receiver.endswith("headers")):
            headers.update(_name_argument(node, constants))
    return queries, headers


def names_read_by_the_edge() -> tuple[list[str], list[str]]:
    """Every query parameter and header name the HTTP edge reads, from its source."""
    queries: set[str] = set()
    headers: set[str] = set(ALWAYS_SENT_HEADERS)
    for path in Path(admittance.http.__file__).parent.rglob("*.py"):
        found_queries, found_headers = _names_read_in(ast.parse(path.read_text(encoding="utf-8")))
        queries |= found_queries
        headers |= {name.lower() for name in found_headers}
    return sorted(queries), sorted(headers)


QUERY_NAMES, HEADER_NAMES = names_read_by_the_edge()


def test_the_edge_reads_its_parameters_through_readers_the_scan_sees() -> None:
    """The scan finds the parameters the issue named, so the run below really sends them."""
    assert {"pageLimit", "limit", "rxMaxSize", "pageSize", "pageNumber", "rowsPerPage"} <= set(QUERY_NAMES)
    assert {"content-type", "authorization", "vernemq-hook"} <= set(HEADER_NAMES)


class Harness:
    """The app on a private event loop (hypothesis drives the examples one at a time)."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.statuses: Counter[int] = Counter()
        self.services: Services = self.run(build_services(settings))
        self.run(first_start(self.services))
        self.app: Admittance = create_app(settings, self.services)
        self.transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.http = httpx.AsyncClient(transport=self.transport, base_url=BASE)  # HTTPS: the cookies are Secure
        self.console = ConsoleClient(self.http)
        answer = self.run(self.console.sign_in("admin", ADMIN_PASSWORD))
        assert answer.status_code == 303, answer.text
        self.csrf = csrf_of(self.run(self.http.get("/console/")).text)

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Straight to the app: the client would try to follow a redirect to a hostile Host."""
        response = await self.transport.handle_async_request(request)
        await response.aread()
        self.statuses[response.status_code] += 1
        return response

    def close(self) -> None:
        try:
            self.run(self.http.aclose())
            self.run(self.services.close())
        finally:
            self.loop.close()


@pytest.fixture
def location(sqlite_template: Path, tmp_path: Path) -> DatabaseLocation:
    path = tmp_path / "admittance.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return DatabaseLocation("sqlite", sqlite_path=path)


@pytest.fixture
def harness(settings: Settings) -> Iterator[Harness]:
    # Hostile Authorization headers fail to authenticate by the hundred: the brute-force protection
    # must not turn every later answer into a 429, nor the uniform failure delay slow the run.
    unlimited = with_settings(
        settings, auth_failures_per_source=1_000_000, auth_failures_per_user=1_000_000, auth_failure_delay_ms=0
    )
    built = Harness(unlimited)
    try:
        yield built
    finally:
        built.close()


def _requests(routes: list[Route]) -> list[tuple[str, str]]:
    found = {(method, route.path) for route in routes for method in route.methods or () if method != "HEAD"}
    # Signing out would end the session the other console requests use.
    return sorted((method, path) for method, path in found if not path.endswith("/sign-out"))


def _header_value(value: str) -> bytes:
    return value.encode("latin-1") if value.isascii() or max(value) <= "\xff" else value.encode("utf-8")


def _hostile_request(harness: Harness, method: str, template: str, data: st.DataObject) -> httpx.Request:
    path = _PARAMETER.sub(lambda _match: quote(data.draw(st.sampled_from(HOSTILE)), safe=""), template)
    names = data.draw(st.lists(st.sampled_from(QUERY_NAMES), max_size=3, unique=True))
    query = urlencode({name: data.draw(st.sampled_from(HOSTILE)) for name in names})
    headers: dict[bytes, bytes] = {b"authorization": ADMIN.encode()}
    if template.startswith("/console") and method == "POST":
        headers[b"x-csrf-token"] = harness.csrf.encode()
    for name in data.draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=2, unique=True)):
        headers[name.encode()] = _header_value(data.draw(st.sampled_from(HOSTILE)))
    url = f"{BASE}{path}" + (f"?{query}" if query else "")
    return harness.http.build_request(method, url, headers=list(headers.items()))


def _probe(harness: Harness, method: str, template: str) -> Any:
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_ROUTE,
        deadline=None,
        database=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def probe(data: st.DataObject) -> None:
        request = _hostile_request(harness, method, template, data)
        response = harness.run(harness.send(request))
        assert response.status_code < 500, f"{method} {request.url}: {response.status_code} {response.text[:300]}"

    return probe


def test_no_route_answers_a_hostile_value_with_a_server_error(harness: Harness) -> None:
    requests = _requests(harness.app.endpoints())
    assert len(requests) > 150  # every surface's routes, not one surface's
    for method, template in requests:
        _probe(harness, method, template)()
    # Not a run of refusals at the door: most answers came from past authentication.
    answered = sum(harness.statuses.values())
    refused = harness.statuses[401] + harness.statuses[403]
    assert answered >= len(requests) * EXAMPLES_PER_ROUTE / 2, harness.statuses
    assert refused < answered / 2, harness.statuses
