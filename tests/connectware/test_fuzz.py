"""Property-based fuzz run over the whole /api surface: schemathesis generates requests from the OpenAPI
document the server serves (GET /api/openapi.json), valid ones and invalid ones, sends them to the app
in-process, as the admin and anonymously, and checks every answer: never a 500, and status, media type,
headers and body as the document says. Runs on SQLite and PostgreSQL.

The test is synchronous and runs the app on an event loop of its own: hypothesis drives the examples
one at a time, and each request runs to completion on that loop (the database pools belong to it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route

from admittance.bootstrap import Services, build_services, first_start
from admittance.http.app import create_app
from admittance.http.compat.connectware import openapi
from admittance.settings import Settings
from tests.conftest import ADMIN_PASSWORD, with_settings

BASE = "http://testserver"
ADMIN = {"Authorization": "Basic " + base64.b64encode(f"t1/admin:{ADMIN_PASSWORD}".encode()).decode()}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Examples per operation and generation mode: the whole run stays near a minute per database.
POSITIVE_EXAMPLES = 15
NEGATIVE_EXAMPLES = 8
NO_NUL = {"generation": {"allow-x00": False}}
MODES = ((GenerationMode.POSITIVE, POSITIVE_EXAMPLES), (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES))
# Paths of the /api surface that belong to a later issue (client registry, CA certificates, maintenance).
LATER = ("/api/client-registry", "/api/certificates", "/api/maintenance")
BROKER_HOOKS = "/api/broker/auth/"
TARGET_LOGIN = {"username": "fuzz.target", "password": "Fuzz-Target-123", "expireTimeInHours": 1}


class Harness:
    """The app on a private event loop, with an httpx client, for synchronous hypothesis tests."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.services: Services = self.run(build_services(settings))
        self.run(first_start(self.services))
        self.app = create_app(settings, self.services)
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.http = httpx.AsyncClient(transport=transport, base_url=BASE)

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        content = None if body is None else json.dumps(body).encode()
        headers = dict(kwargs.pop("headers", None) or ADMIN)
        if content is not None:
            headers["content-type"] = "application/json"
        return self.run(self.http.request(method, path, content=content, headers=headers, **kwargs))

    def close(self) -> None:
        try:
            self.run(self.http.aclose())
            self.run(self.services.close())
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


@pytest.fixture
def fuzz_settings(settings: Settings) -> Settings:
    # Thousands of failed authentications from one address and for one account are the point of the
    # run: the brute-force protection must not turn every later answer into a 429.
    unlimited = {
        "auth_failures_per_source": 1_000_000,
        "auth_failures_per_user": 1_000_000,
        "mfa_max_invalid_otps_per_user": 1_000_000,
    }
    return with_settings(settings, **{name: value for name, value in unlimited.items() if hasattr(settings, name)})


@pytest.fixture
def harness(fuzz_settings: Settings) -> Iterator[Harness]:
    built = Harness(fuzz_settings)
    try:
        yield built
    finally:
        built.close()


def _served_document(harness: Harness) -> dict[str, Any]:
    response = harness.request("GET", openapi.PATH, headers={})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


def test_document_is_served_publicly_and_describes_every_api_route(harness: Harness) -> None:
    document = _served_document(harness)
    assert document["openapi"].startswith("3.0.")
    assert document == json.loads(json.dumps(openapi.document()))
    schema = schemathesis.openapi.from_dict(document)
    operations = {(op.ok().method.upper(), _template(op.ok().path)) for op in schema.get_all_operations()}
    served = set()
    for route in harness.app.app.routes:
        if isinstance(route, Route) and route.path.startswith("/api/") and not route.path.startswith(LATER):
            served |= {(method, _template(route.path)) for method in route.methods or () if method != "HEAD"}
    # The broker's one templated route is described hook by hook (each hook has its own body).
    hooks = {(method, path) for method, path in operations if path.startswith(BROKER_HOOKS)}
    assert ("POST", BROKER_HOOKS + "{}") in served
    assert len(hooks) == 8
    served = (served - {("POST", BROKER_HOOKS + "{}")}) | hooks
    assert served - operations == set(), "routes the document does not describe"
    assert operations - served == set(), "operations the server does not have (yet)"


def _template(path: str) -> str:
    """The path with its parameters unnamed: /api/roles/{id}/permissions/{pemId} and .../{permission} match."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def _known_ids(harness: Harness) -> dict[str, list[str]]:
    """Ids of things that exist, so that the run reaches more than 404s: a user and a role made for it,
    a built-in role, and a permission of the made role."""
    known: dict[str, list[str]] = {"user": [], "role": ["minimum-access"], "permission": []}
    user = harness.request("POST", "/api/users", {"username": "fuzz.target", "password": TARGET_LOGIN["password"]})
    if user.status_code == 201:
        known["user"].append(str(user.json()["id"]))
    role = harness.request(
        "POST",
        "/api/roles",
        {"name": "fuzz-role", "permissions": [{"resource": "fuzz/#", "operation": "read", "context": "mqtt"}]},
    )
    if role.status_code == 201:
        made = role.json()
        known["role"].insert(0, str(made["id"]))
        known["permission"] += [str(permission["id"]) for permission in made.get("permissions", [])]
    return known


def _fixed_path_parameters(path: str, known: dict[str, list[str]]) -> list[dict[str, str]]:
    if path.startswith("/api/users/{id}"):
        return [{"id": user_id} for user_id in known["user"]]
    if path.startswith("/api/roles/{id}/permissions/{pemId}"):
        return [
            {"id": role_id, "pemId": permission_id}
            for role_id in known["role"][:1]
            for permission_id in known["permission"]
        ]
    if path.startswith("/api/roles/{id}"):
        return [{"id": role_id} for role_id in known["role"]]
    return []


def _order(operation: Any) -> tuple[int, int]:
    # Deletions last, so that what they remove was there for everything else, and parts (a user's
    # tokens, a role's permission) before the whole.
    if operation.method.upper() != "DELETE":
        return (0, 0)
    return (1, -operation.path.count("/"))


def _fuzz_operation(
    harness: Harness,
    operation: Any,
    mode: GenerationMode,
    examples: int,
    headers: dict[str, str],
    known: dict[str, list[str]],
    seen: Counter[int],
) -> None:
    strategies = [operation.as_strategy(generation_mode=mode)]
    strategies += [
        operation.as_strategy(generation_mode=mode, path_parameters=fixed)
        for fixed in _fixed_path_parameters(operation.path, known)
    ]
    if mode is GenerationMode.POSITIVE:
        strategies += _reaching(operation, known)
    strategy = st.one_of(strategies)
    if mode is GenerationMode.POSITIVE and operation.path in ("/api/users", "/api/users/batch"):
        strategy = strategy.map(_with_password)

    @hypothesis_settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url=BASE, headers=headers)
        response = harness.run(_send(harness.http, kwargs))
        seen[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs=kwargs)

    check()


def _reaching(operation: Any, known: dict[str, list[str]]) -> list[Any]:
    """Requests that get past the checks of random values to the real work: a login with the right
    password, a role given to and taken from the made user."""
    if operation.path == "/api/login":
        return [operation.as_strategy(body=TARGET_LOGIN)]
    if operation.path == "/api/users/{id}/roles":
        return [
            operation.as_strategy(path_parameters={"id": user_id}, body={"roleId": role_id})
            for user_id in known["user"]
            for role_id in known["role"]
        ]
    return []


def _with_password(case: Any) -> Any:
    """A user to create signs in with a password by default, and then needs one: give it one where the
    drawn body has none (the document cannot say "required unless grantTypes exclude password")."""
    users = case.body if isinstance(case.body, list) else [case.body]
    for user in users:
        if isinstance(user, dict) and "password" not in user:
            user["password"] = "Fuzz-Password-456"
    return case


async def _send(http: httpx.AsyncClient, kwargs: dict[str, Any]) -> httpx.Response:
    """The request as schemathesis serialized it for `requests`, sent with httpx."""
    headers = dict(kwargs.get("headers") or {})
    content: bytes | None = None
    if "json" in kwargs:
        content = json.dumps(kwargs["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        content = data.encode() if isinstance(data, str) else bytes(data)
    params = kwargs.get("params")
    return await http.request(
        kwargs["method"],
        kwargs["url"],
        params=params if params else None,
        headers=headers,
        cookies=kwargs.get("cookies") or None,
        content=content,
    )


@pytest.mark.parametrize("who", ["admin", "anonymous"])
def test_fuzz_api(harness: Harness, who: str) -> None:
    document = _served_document(harness)
    # Valid requests without NUL characters (the server refuses NUL in any text, with a 422, so valid
    # requests with it reach nothing); invalid requests may carry them.
    valid = schemathesis.openapi.from_dict(document, config=schemathesis.Config.from_dict(NO_NUL))
    invalid = schemathesis.openapi.from_dict(document, config=schemathesis.Config())
    headers = dict(ADMIN) if who == "admin" else {}
    known = _known_ids(harness) if who == "admin" else {"user": [], "role": ["minimum-access"], "permission": []}
    only = os.environ.get("ADMITTANCE_FUZZ_ONLY", "")  # a path prefix, to fuzz a part while working on it
    operations = sorted(
        (op for op in (result.ok() for result in valid.get_all_operations()) if op.path.startswith(only)),
        key=_order,
    )
    failures: list[str] = []
    statuses: dict[str, Counter[int]] = {}
    for operation in operations:
        seen = statuses.setdefault(f"{operation.method.upper()} {operation.path}", Counter())
        for mode, examples in MODES:
            if mode is GenerationMode.NEGATIVE and not _has_input(operation):
                continue  # nothing to make invalid
            drawn = operation if mode is GenerationMode.POSITIVE else invalid[operation.path][operation.method]
            try:
                _fuzz_operation(harness, drawn, mode, examples, headers, known, seen)
            # Every operation is tried and all failures are reported at once (schemathesis raises its
            # FailureGroup, a BaseExceptionGroup).
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {_first_lines(exc)}")
    print(f"\nstatuses as {who}:")  # shown with -s: how far the run got into each operation
    for name, seen in statuses.items():
        print(f"  {name}: {dict(sorted(seen.items()))}")
    assert not failures, "\n\n".join(failures)


def _has_input(operation: Any) -> bool:
    raw = operation.definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody") or operation.path_parameters)


def _first_lines(exc: BaseException, limit: int = 40, width: int = 600) -> str:
    notes: list[str] = getattr(exc, "__notes__", [])
    lines = [type(exc).__name__, *str(exc).splitlines()[:limit], *notes[:limit]]
    return "\n".join(line if len(line) <= width else line[:width] + " [...]" for line in lines)
