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
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
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

from admittance.bootstrap import Services, first_start
from admittance.http.app import create_app
from admittance.http.compat.connectware import openapi
from admittance.settings import Settings
from tests.support import secrets
from tests.support.credentials import ADMIN_PASSWORD
from tests.support.services import build
from tests.support.settings import with_settings

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
# An operation without parameters or body sends the same request each time: a few are enough.
NO_INPUT_EXAMPLES = 3
NO_NUL = {"generation": {"allow-x00": False}}
MODES = ((GenerationMode.POSITIVE, POSITIVE_EXAMPLES), (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES))
JSON = "application/json"
BROKER_HOOKS = "/api/broker/auth/"
TARGET_LOGIN = {"username": "fuzz.target", "password": "Fuzz-Target-123", "expireTimeInHours": 1}
REGISTER = "/api/client-registry/register"
RESTORE = "/api/maintenance/db/restore"
DEVICE_PASSWORD = "Fuzz-Device-789"
IMPOSTOR_PASSWORD = "Not-The-Device-1"
secrets.register(TARGET_LOGIN["password"], DEVICE_PASSWORD, IMPOSTOR_PASSWORD, "Fuzz-Password-456")
# A backup upload is a zip file: schemathesis sends drawn bytes as they are, as for octet-stream.
schemathesis.serializer.alias("application/zip", "application/octet-stream")


class Harness:
    """The app on a private event loop, with an httpx client, for synchronous hypothesis tests."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.services: Services = self.run(build(settings))
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
    # The uniform failure delay pads every 401 to the same time (its own tests check that); here it would
    # only add 20 ms to each of the anonymous run's thousand 401s.
    unlimited["auth_failure_delay_ms"] = 0
    return with_settings(settings, **{name: value for name, value in unlimited.items() if name in settings.values()})


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
    for route in harness.app.endpoints():
        if route.path.startswith("/api/"):
            served |= {(method, _template(route.path)) for method in route.methods or () if method != "HEAD"}
    # The broker's one templated route is described hook by hook (each hook has its own body).
    hooks = {(method, path) for method, path in operations if path.startswith(BROKER_HOOKS)}
    assert ("POST", BROKER_HOOKS + "{}") in served
    assert len(hooks) == 8
    served = (served - {("POST", BROKER_HOOKS + "{}")}) | hooks
    assert served - operations == set(), "routes the document does not describe"
    assert operations - served == set(), "operations the server does not have"


def _template(path: str) -> str:
    """The path with its parameters unnamed: /api/roles/{id}/permissions/{pemId} and .../{permission} match."""
    return re.sub(r"\{[^}]*\}", "{}", path)


Known = dict[str, list[Any]]


def _known_ids(harness: Harness) -> Known:
    """Ids of things that exist, so that the run reaches more than 404s: a user and a role made for it,
    a built-in role, and a permission of the made role; registry entries (pending and granted) with
    the requests that poll them; trusted CA certificates added for the run; a backup made at its start
    (after everything else, so that restoring it brings back all of this)."""
    known: Known = {"user": [], "role": ["minimum-access"], "permission": []}
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
    known |= _registry(harness)
    known["certificate"] = ["device-ca"]
    for name in ("Fuzz CA one", "Fuzz CA two"):
        added = harness.request("POST", "/api/certificates", _ca_pem(name))
        assert added.status_code == 200, added.text
        known["certificate"] += [item["id"] for item in added.json() if item["issuedTo"]["commonName"] == name]
    backup = harness.request("POST", "/api/maintenance/db/backup")
    assert backup.status_code == 201, backup.text
    known["backup"] = [backup.json()["id"]]
    return known


def _anonymous_known(harness: Harness) -> Known:
    """The anonymous run needs no ids but the public registry's: its requests are real devices'."""
    return {"user": [], "role": ["minimum-access"], "permission": [], **_registry(harness)}


def _registry(harness: Harness) -> Known:
    """Registry entries made as a device would (the window opened by the admin): a pending CSR request, a
    pending password request and a granted CSR request; the requests that poll them, and impostors'."""
    _open_registry(harness)
    requests: list[dict[str, Any]] = []
    for username in ("fuzz.device.csr", "fuzz.device.granted"):
        requests.append({"username": username, "csr": _csr(username), "context": "fuzz", "roles": ["minimum-access"]})
        requests.append({"username": username, "csr": _csr(username)})  # another key: an impostor
    requests.append({"username": "fuzz.device.pw", "password": DEVICE_PASSWORD, "permissions": []})
    requests.append({"username": "fuzz.device.pw", "password": IMPOSTOR_PASSWORD})  # an impostor
    for body in requests[0::2]:  # the devices' own requests
        answer = harness.request("POST", REGISTER, body, headers={"content-type": "application/json"})
        assert answer.status_code == 202, answer.text
    granted = harness.request("POST", "/api/client-registry/confirm", {"username": "fuzz.device.granted"})
    assert granted.status_code == 200, granted.text
    # A tenant whose registry nobody opened: locked (423).
    requests.append({"username": "elsewhere/fuzz.device", "password": DEVICE_PASSWORD})
    return {"register": requests, "registration": ["fuzz.device.csr", "fuzz.device.pw", "fuzz.device.granted"]}


def _open_registry(harness: Harness) -> None:
    opened = harness.request("POST", "/api/client-registry/open", {"duration": 3_600_000})
    assert opened.status_code == 204, opened.text


def _csr(username: str) -> str:
    """A real CSR for the username, base64 of its PEM as the seed sends it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, username)])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return base64.encodebytes(request.public_bytes(serialization.Encoding.PEM)).decode("ascii")


def _ca_pem(name: str, *, ca: bool = True) -> str:
    """A self-signed certificate, a CA unless `ca` is false."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _fixed_path_parameters(path: str, known: Known) -> list[dict[str, str]]:
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
    if path == "/api/client-registry/{username}":
        return [{"username": username} for username in known.get("registration", [])]
    if path == "/api/certificates/{id}":
        return [{"id": certificate_id} for certificate_id in known.get("certificate", [])]
    if path == "/api/maintenance/db/backups/{id}":
        return [{"id": backup_id} for backup_id in known.get("backup", [])]
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
    known: Known,
    seen: Counter[int],
) -> None:
    strategies = [operation.as_strategy(generation_mode=mode)]
    strategies += [
        operation.as_strategy(generation_mode=mode, path_parameters=fixed)
        for fixed in _fixed_path_parameters(operation.path, known)
    ]
    reaching = _reaching(operation, known) if mode is GenerationMode.POSITIVE else []
    # Each request that reaches the real work is sent once for sure, then drawn among the others.
    for strategy in reaching:
        _check(harness, strategy, 1, headers, seen)
    strategy = st.one_of(strategies + reaching)
    if mode is GenerationMode.POSITIVE and operation.path in ("/api/users", "/api/users/batch"):
        strategy = strategy.map(_with_password)
    _check(harness, strategy, examples, headers, seen)


def _check(harness: Harness, strategy: Any, examples: int, headers: dict[str, str], seen: Counter[int]) -> None:
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


def _reaching(operation: Any, known: Known) -> list[Any]:
    """Requests that get past the checks of random values to the real work: a login with the right
    password, a role given to and taken from the made user; registry polls (pending, granted) and
    impostors, grants; real CA certificates (and one that is not a CA) to add, certificates to fetch
    and remove; a restore of the backup made at the start, and a damaged upload."""
    path, method = operation.path, operation.method.upper()
    if path == "/api/login":
        return [operation.as_strategy(body=TARGET_LOGIN)]
    if path == "/api/users/{id}/roles":
        return [
            operation.as_strategy(path_parameters={"id": user_id}, body={"roleId": role_id})
            for user_id in known["user"]
            for role_id in known["role"]
        ]
    if path == REGISTER:
        fixed = [operation.as_strategy(body=body, media_type=JSON) for body in known["register"]]
        return [*fixed, operation.as_strategy(media_type=JSON).map(_new_device)]
    if path == "/api/client-registry/confirm":
        bodies = [
            {"username": "fuzz.device.pw"},
            {"username": "fuzz.device.csr", "grantTypes": [{"method": "password"}]},
        ]
        return [operation.as_strategy(body=body, media_type=JSON) for body in bodies]
    if path == "/api/certificates" and method == "POST":
        return [
            operation.as_strategy(body=_ca_pem("Fuzz CA three"), media_type=JSON),
            operation.as_strategy(body=_ca_pem("Fuzz CA four"), media_type="text/plain"),
            operation.as_strategy(body=_ca_pem("Fuzz leaf", ca=False), media_type=JSON),
        ]
    if (path, method) in (("/api/certificates", "DELETE"), ("/api/certificates/content", "GET")):
        return [operation.as_strategy(query={"id": certificate_id}) for certificate_id in known.get("certificate", [])]
    if path == RESTORE:
        restores = [
            operation.as_strategy(body={"id": backup_id}, media_type=JSON) for backup_id in known.get("backup", [])
        ]
        return [*restores, operation.as_strategy(body=b"PK\x03\x04 not a zip file", media_type="application/zip")]
    return []


def _new_device(case: Any) -> Any:
    """A drawn registration with a password that passes the policy and no CSR (a drawn CSR never
    parses): new requests reach the window (pending; locked in another tenant) and the rules on
    roles, permissions and context."""
    if isinstance(case.body, dict):
        case.body.pop("csr", None)
        case.body["password"] = DEVICE_PASSWORD
    return case


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
    known = _known_ids(harness) if who == "admin" else _anonymous_known(harness)
    only = os.environ.get("ADMITTANCE_FUZZ_ONLY", "")  # a path prefix, to fuzz a part while working on it
    operations = sorted(
        (op for op in (result.ok() for result in valid.get_all_operations()) if op.path.startswith(only)),
        key=_order,
    )
    failures: list[str] = []
    statuses: dict[str, Counter[int]] = {}
    for operation in operations:
        seen = statuses.setdefault(f"{operation.method.upper()} {operation.path}", Counter())
        if operation.path == REGISTER:
            _open_registry(harness)  # the fuzzed close may have locked it: new requests need it open
        for mode, examples in MODES:
            if mode is GenerationMode.NEGATIVE and not _has_input(operation):
                continue  # nothing to make invalid
            drawn = operation if mode is GenerationMode.POSITIVE else invalid[operation.path][operation.method]
            if not _has_input(operation):
                examples = min(examples, NO_INPUT_EXAMPLES)
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
