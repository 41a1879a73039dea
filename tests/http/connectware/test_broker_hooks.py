"""Contract tests of the broker authentication endpoints (/api/broker/auth/*): the exact JSON VerneMQ's
vmq_webhooks sends and expects, for every hook and outcome (docs/compat/connectware/broker.md).
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from typing import Any

import httpx
import orjson
import pytest

from admittance.bootstrap import Services
from admittance.http.app import create_app
from admittance.identity import PresentedCredentials
from admittance.kernel.clock import to_millis

HOOK = "/api/broker/auth"
PW = "Mqtt-Passw0rd-1"
DENY = {"result": {"error": "not_allowed"}}
OK = {"result": "ok"}
CERT = b"0\x82\x01\x0a-a-client-certificate-in-DER-" + bytes(range(32))
OTHER_CERT = b"0\x82\x01\x0a-another-certificate-" + bytes(range(32, 64))
PASSWORD_ONLY = [{"method": "password", "isRequired": False}]
CERT_ONLY = [{"method": "certificate", "isRequired": False}]
TOKEN_ONLY = [{"method": "token", "isRequired": False}]


# --- requests as VerneMQ sends them ----------------------------------------------------------------


def register_v3(username: str | None, password: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "peer_addr": "192.0.2.10",
        "peer_port": 51000,
        "username": username,
        "password": password,
        "mountpoint": "",
        "client_id": "client-1",
        "clean_session": True,
        **extra,
    }


def register_m5(username: str | None, password: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "peer_addr": "192.0.2.10",
        "peer_port": 51000,
        "mountpoint": "",
        "client_id": "client-1",
        "username": username,
        "password": password,
        "clean_start": True,
        "properties": {},
        "listener_addr": "127.0.0.1",
        "listener_port": 1883,
        "listener_type": "mqtt",
        **extra,
    }


def publish(username: str, topic: str, *, m5: bool = False) -> dict[str, Any]:
    body = {
        "username": username,
        "mountpoint": "",
        "client_id": "client-1",
        "qos": 1,
        "topic": topic,
        "payload": base64.b64encode(b"secret payload 42").decode(),
        "retain": False,
    }
    return body | ({"properties": {}} if m5 else {})


def subscribe_v3(username: str, *topics: tuple[str, int]) -> dict[str, Any]:
    return {
        "username": username,
        "mountpoint": "",
        "client_id": "client-1",
        "topics": [{"topic": topic, "qos": qos} for topic, qos in topics],
    }


def subscribe_m5(username: str, *topics: tuple[str, int]) -> dict[str, Any]:
    return {
        "username": username,
        "mountpoint": "",
        "client_id": "client-1",
        "topics": [
            {"topic": topic, "qos": qos, "no_local": False, "rap": False, "retain_handling": "send_retain"}
            for topic, qos in topics
        ],
        "properties": {},
    }


def enhanced(username: str | None, method: str, data: bytes | None) -> dict[str, Any]:
    properties: dict[str, Any] = {"p_authentication_method": method}
    if data is not None:
        properties["p_authentication_data"] = base64.b64encode(data).decode()
    return {"username": username, "mountpoint": "", "client_id": "client-1", "properties": properties}


async def hook(
    client: httpx.AsyncClient, name: str, body: Any, *, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> httpx.Response:
    """POST /api/broker/auth/<name> with the vernemq-hook header, as VerneMQ does."""
    sent = {"content-type": "application/json", "vernemq-hook": name} | (headers or {})
    return await client.post(f"{HOOK}/{name}", content=raw if raw is not None else orjson.dumps(body), headers=sent)


def answer(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


# --- users, permissions, certificates (through the services; SQL for what has no service yet) -------


async def sql(services: Services, statement: str, params: dict[str, Any]) -> None:
    async with services.database.transaction() as executor:
        await executor.execute(statement, params)


async def make_user(
    services: Services,
    username: str,
    *,
    permissions: tuple[tuple[str, str], ...] = (),
    prefix: str | None = None,
    grant_types: list[dict[str, Any]] | None = None,
    enabled: bool = True,
    roles: tuple[str, ...] = (),
) -> int:
    """A user of tenant t1 with password PW and mqtt permissions `(operation, resource)`."""
    user = await services.identity.create_user("t1", username, PW, roles)
    if permissions:
        role_id = f"role-{username}"
        await sql(
            services,
            "INSERT INTO roles (id, description, builtin, tenant_id, name, is_shared, auto_generated, created_at) "
            "VALUES (:id, '', :builtin, 't1', :id, :shared, :auto, 0)",
            {"id": role_id, "builtin": False, "shared": False, "auto": True},
        )
        for operation, resource in permissions:
            await sql(
                services,
                "INSERT INTO role_permissions (id, role_id, context, operation, resource) "
                "VALUES (:id, :role, 'mqtt', :operation, :resource)",
                {"id": str(uuid.uuid4()), "role": role_id, "operation": operation, "resource": resource},
            )
        await sql(
            services,
            "INSERT INTO user_roles (user_id, role_id) VALUES (:user, :role)",
            {"user": user.id, "role": role_id},
        )
    if prefix is not None:
        await sql(services, "UPDATE users SET mqtt_publish_prefix = :p WHERE id = :id", {"p": prefix, "id": user.id})
    if grant_types is not None:
        await sql(
            services,
            "UPDATE users SET grant_types = :g WHERE id = :id",
            {"g": orjson.dumps(grant_types).decode(), "id": user.id},
        )
    if not enabled:
        await disable(services, user.id)
    return user.id


async def disable(services: Services, user_id: int) -> None:
    await sql(services, "UPDATE users SET enabled = :no WHERE id = :id", {"no": False, "id": user_id})


async def add_certificate(services: Services, user_id: int, der: bytes, *, expires_at: int | None = None) -> None:
    await sql(
        services,
        "INSERT INTO user_certificates (user_id, fingerprint, created_at, expires_at) VALUES (:u, :f, :now, :exp)",
        {
            "u": user_id,
            "f": hashlib.sha256(der).hexdigest(),
            "now": to_millis(services.clock.now()),
            "exp": expires_at,
        },
    )


async def token_of(services: Services, username: str) -> str:
    result = await services.sessions.login(PresentedCredentials("t1", username, PW, "192.0.2.99"), None, None)
    assert result.token is not None
    return result.token


def cert_b64(der: bytes) -> str:
    return base64.b64encode(der).decode()


# --- auth_on_register / auth_on_register_m5 --------------------------------------------------------


@pytest.mark.parametrize(("name", "build"), [("auth_on_register", register_v3), ("auth_on_register_m5", register_m5)])
async def test_register_by_password(client: httpx.AsyncClient, services: Services, name: str, build: Any) -> None:
    await make_user(services, "sensor1")
    assert answer(await hook(client, name, build("sensor1", PW))) == OK
    assert answer(await hook(client, name, build("t1/sensor1", PW))) == OK
    wrong = await hook(client, name, build("sensor1", "Wrong-Passw0rd"))
    unknown = await hook(client, name, build("nobody", PW))
    unknown_tenant = await hook(client, name, build("t9/sensor1", PW))
    # Unknown user, unknown tenant and wrong password: the same answer, byte for byte.
    assert answer(wrong) == answer(unknown) == answer(unknown_tenant) == DENY
    assert wrong.content == unknown.content == unknown_tenant.content
    assert "cache-control" not in wrong.headers
    assert answer(await hook(client, name, build("sensor1", None))) == DENY
    assert answer(await hook(client, name, build(None, PW))) == DENY
    assert answer(await hook(client, name, build(None, None))) == DENY


async def test_register_refuses_disabled_users(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "gone", enabled=False)
    assert answer(await hook(client, "auth_on_register", register_v3("gone", PW))) == DENY
    assert answer(await hook(client, "auth_on_register_m5", register_m5("gone", PW))) == DENY


async def test_register_refuses_users_who_must_enroll_in_mfa(client: httpx.AsyncClient, services: Services) -> None:
    user_id = await make_user(services, "enrollee")
    assert answer(await hook(client, "auth_on_register", register_v3("enrollee", PW))) == OK
    await sql(services, "UPDATE users SET enforce_mfa_enrollment = :yes WHERE id = :id", {"yes": True, "id": user_id})
    assert answer(await hook(client, "auth_on_register", register_v3("enrollee", PW))) == DENY


async def test_register_needs_the_password_grant_type(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "certonly", grant_types=CERT_ONLY)
    assert answer(await hook(client, "auth_on_register", register_v3("certonly", PW))) == DENY


async def test_register_goes_through_the_brute_force_limits(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "target")
    limit = services.settings.auth.failures_per_user
    for _ in range(limit):
        assert answer(await hook(client, "auth_on_register", register_v3("target", "Wrong-Passw0rd"))) == DENY
    # Locked: even the right password is refused now, with the same answer.
    assert answer(await hook(client, "auth_on_register", register_v3("target", PW))) == DENY


async def test_register_with_a_token_as_password(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "svc", grant_types=[*PASSWORD_ONLY, *TOKEN_ONLY])
    token = await token_of(services, "svc")
    assert answer(await hook(client, "auth_on_register", register_v3("svc", token))) == OK
    assert answer(await hook(client, "auth_on_register_m5", register_m5("t1/svc", token))) == OK
    # Without a user name the token names the user: VerneMQ takes it as the session's user name.
    assert answer(await hook(client, "auth_on_register", register_v3(None, token))) == {
        "result": "ok",
        "modifiers": {"username": "t1/svc"},
    }
    # Another user's name with this token, an unknown token, a revoked token: refused.
    await make_user(services, "other", grant_types=TOKEN_ONLY)
    assert answer(await hook(client, "auth_on_register", register_v3("other", token))) == DENY
    assert answer(await hook(client, "auth_on_register", register_v3("svc", "adm_" + "x" * 40))) == DENY
    await sql(services, "DELETE FROM api_tokens", {})
    assert answer(await hook(client, "auth_on_register", register_v3("svc", token))) == DENY


async def test_register_with_a_token_needs_the_token_grant_type(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "pwonly", grant_types=PASSWORD_ONLY)
    token = await token_of(services, "pwonly")
    assert answer(await hook(client, "auth_on_register", register_v3("pwonly", token))) == DENY


async def test_register_by_certificate(client: httpx.AsyncClient, services: Services) -> None:
    user_id = await make_user(services, "camera", grant_types=CERT_ONLY)
    await add_certificate(services, user_id, CERT)
    cert = cert_b64(CERT)
    assert answer(await hook(client, "auth_on_register", register_v3("camera", None, client_cert=cert))) == OK
    assert answer(await hook(client, "auth_on_register_m5", register_m5("camera", None, client_cert=cert))) == OK
    # No user name: the certificate's fingerprint names the user.
    assert answer(await hook(client, "auth_on_register", register_v3(None, None, client_cert=cert))) == {
        "result": "ok",
        "modifiers": {"username": "t1/camera"},
    }
    other = cert_b64(OTHER_CERT)
    assert answer(await hook(client, "auth_on_register", register_v3("camera", None, client_cert=other))) == DENY
    assert answer(await hook(client, "auth_on_register", register_v3(None, None, client_cert=other))) == DENY
    # No certificate grant type: the registered certificate does not authenticate.
    await sql(
        services,
        "UPDATE users SET grant_types = :g WHERE id = :id",
        {"g": orjson.dumps(PASSWORD_ONLY).decode(), "id": user_id},
    )
    assert answer(await hook(client, "auth_on_register", register_v3("camera", None, client_cert=cert))) == DENY
    assert answer(await hook(client, "auth_on_register", register_v3(None, None, client_cert=cert))) == DENY


async def test_register_by_an_expired_certificate_is_refused(client: httpx.AsyncClient, services: Services) -> None:
    user_id = await make_user(services, "old", grant_types=CERT_ONLY)
    await add_certificate(services, user_id, CERT, expires_at=to_millis(services.clock.now()) - 1000)
    assert answer(await hook(client, "auth_on_register", register_v3("old", None, client_cert=cert_b64(CERT)))) == DENY


async def test_register_with_required_grant_types(client: httpx.AsyncClient, services: Services) -> None:
    both = [{"method": "password", "isRequired": True}, {"method": "certificate", "isRequired": True}]
    user_id = await make_user(services, "strict", grant_types=both)
    await add_certificate(services, user_id, CERT)
    cert = cert_b64(CERT)
    assert answer(await hook(client, "auth_on_register", register_v3("strict", PW))) == DENY
    assert answer(await hook(client, "auth_on_register", register_v3("strict", None, client_cert=cert))) == DENY
    assert answer(await hook(client, "auth_on_register", register_v3("strict", PW, client_cert=cert))) == OK
    assert (
        answer(await hook(client, "auth_on_register", register_v3("strict", "Wrong-Passw0rd", client_cert=cert)))
        == DENY
    )


# --- auth_on_publish / auth_on_publish_m5 ------------------------------------------------------------


@pytest.mark.parametrize("m5", [False, True])
async def test_publish(client: httpx.AsyncClient, services: Services, m5: bool) -> None:
    name = "auth_on_publish_m5" if m5 else "auth_on_publish"
    await make_user(services, "pub", permissions=(("write", "devices/pub/#"), ("read", "commands/#")))
    assert answer(await hook(client, name, publish("pub", "devices/pub/temp", m5=m5))) == OK
    assert answer(await hook(client, name, publish("t1/pub", "devices/pub", m5=m5))) == OK
    assert answer(await hook(client, name, publish("pub", "devices/other/temp", m5=m5))) == DENY
    assert answer(await hook(client, name, publish("pub", "commands/x", m5=m5))) == DENY  # read only
    assert answer(await hook(client, name, publish("nobody", "devices/pub/temp", m5=m5))) == DENY
    assert answer(await hook(client, name, publish("pub", "devices/pub/+", m5=m5))) == DENY  # not a topic name


async def test_publish_with_the_mqtt_publish_prefix(client: httpx.AsyncClient, services: Services) -> None:
    # Connectware: every message of the user gets the prefix; write permissions describe the final topic.
    await make_user(services, "pre", prefix="topicA/", permissions=(("write", "topicA/some/#"),))
    await make_user(services, "pre2", prefix="plant", permissions=(("readWrite", "+/sensors/#"),))
    await make_user(services, "nopre", prefix="topicA/", permissions=(("write", "some/#"),))
    rewritten = {"result": "ok", "modifiers": {"topic": "topicA/some/values"}}
    assert answer(await hook(client, "auth_on_publish", publish("pre", "some/values"))) == rewritten
    assert answer(await hook(client, "auth_on_publish_m5", publish("pre", "some/values", m5=True))) == rewritten
    assert answer(await hook(client, "auth_on_publish", publish("pre2", "sensors/t"))) == {
        "result": "ok",
        "modifiers": {"topic": "plant/sensors/t"},
    }
    # A write permission without the prefix does not allow the prefixed topic.
    assert answer(await hook(client, "auth_on_publish", publish("nopre", "some/values"))) == DENY


async def test_publish_refused_to_disabled_users(client: httpx.AsyncClient, services: Services) -> None:
    user_id = await make_user(services, "pubber", permissions=(("write", "#"),))
    assert answer(await hook(client, "auth_on_publish", publish("pubber", "a/b"))) == OK
    await disable(services, user_id)  # no cache: the block bites on the next call
    assert answer(await hook(client, "auth_on_publish", publish("pubber", "a/b"))) == DENY


# --- auth_on_subscribe / auth_on_subscribe_m5 -------------------------------------------------------


async def test_subscribe_v3_mixed(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "sub", permissions=(("read", "devices/+/telemetry"), ("readWrite", "cmd/#")))
    body = subscribe_v3(
        "sub", ("devices/d1/telemetry", 1), ("devices/#", 2), ("cmd/a/b", 0), ("devices/+/telemetry", 2)
    )
    assert answer(await hook(client, "auth_on_subscribe", body)) == {
        "result": "ok",
        "topics": [
            {"topic": "devices/d1/telemetry", "qos": 1},
            {"topic": "devices/#", "qos": 128},
            {"topic": "cmd/a/b", "qos": 0},
            {"topic": "devices/+/telemetry", "qos": 2},
        ],
    }


async def test_subscribe_m5_mixed(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "sub5", permissions=(("read", "devices/+/telemetry"),))
    body = subscribe_m5("sub5", ("devices/d1/telemetry", 1), ("devices/d1/#", 0))
    body["topics"][0] |= {"no_local": True, "retain_handling": "dont_send"}
    assert answer(await hook(client, "auth_on_subscribe_m5", body)) == {
        "result": "ok",
        "modifiers": {
            "topics": [
                {
                    "topic": "devices/d1/telemetry",
                    "qos": 1,
                    "no_local": True,
                    "rap": False,
                    "retain_handling": "dont_send",
                },
                {"topic": "devices/d1/#", "qos": 135},
            ]
        },
    }


async def test_subscribe_denies_everything_to_unknown_and_write_only_users(
    client: httpx.AsyncClient, services: Services
) -> None:
    await make_user(services, "writer", permissions=(("write", "#"),))
    expected_v3 = {"result": "ok", "topics": [{"topic": "a/b", "qos": 128}]}
    assert answer(await hook(client, "auth_on_subscribe", subscribe_v3("writer", ("a/b", 1)))) == expected_v3
    assert answer(await hook(client, "auth_on_subscribe", subscribe_v3("nobody", ("a/b", 1)))) == expected_v3
    assert answer(await hook(client, "auth_on_subscribe_m5", subscribe_m5("nobody", ("a/b", 1)))) == {
        "result": "ok",
        "modifiers": {"topics": [{"topic": "a/b", "qos": 135}]},
    }


async def test_hash_permission_does_not_reach_dollar_topics(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "root", permissions=(("readWrite", "#"),))
    assert answer(
        await hook(client, "auth_on_subscribe", subscribe_v3("root", ("#", 0), ("$SYS/#", 0), ("$SYS/x", 0)))
    ) == {
        "result": "ok",
        "topics": [{"topic": "#", "qos": 0}, {"topic": "$SYS/#", "qos": 128}, {"topic": "$SYS/x", "qos": 128}],
    }
    assert answer(await hook(client, "auth_on_publish", publish("root", "$SYS/broker/x"))) == DENY
    assert answer(await hook(client, "auth_on_publish", publish("root", "any/topic"))) == OK


async def test_shared_subscriptions_are_checked_on_their_filter(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "worker", permissions=(("read", "jobs/#"),))
    body = subscribe_v3("worker", ("$share/g1/jobs/new", 1), ("$share/g1/other", 1), ("$share/broken", 1))
    assert answer(await hook(client, "auth_on_subscribe", body))["topics"] == [
        {"topic": "$share/g1/jobs/new", "qos": 1},
        {"topic": "$share/g1/other", "qos": 128},
        {"topic": "$share/broken", "qos": 128},
    ]


async def test_built_in_admin_role_reaches_every_topic(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "ops", roles=("connectware-admin",))
    assert answer(await hook(client, "auth_on_publish", publish("ops", "any/where"))) == OK
    assert answer(await hook(client, "auth_on_subscribe", subscribe_v3("ops", ("#", 1))))["topics"] == [
        {"topic": "#", "qos": 1}
    ]


# --- on_auth_m5 (POST /api/broker/auth/enhanced) -----------------------------------------------------

TOKEN_METHOD = "ADMITTANCE-TOKEN"
ENHANCED_OK = {"result": "ok", "modifiers": {"properties": {"p_authentication_method": TOKEN_METHOD}, "reason_code": 0}}


async def test_enhanced_authentication(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "m5dev", grant_types=TOKEN_ONLY, permissions=(("write", "m5/#"),))
    token = await token_of_any(services, "m5dev")
    ok = await client.post(
        f"{HOOK}/enhanced", json=enhanced("m5dev", TOKEN_METHOD, token.encode()), headers={"vernemq-hook": "on_auth_m5"}
    )
    assert answer(ok) == ENHANCED_OK
    assert answer(await hook(client, "on_auth_m5", enhanced(None, TOKEN_METHOD, token.encode()))) == ENHANCED_OK
    # The seed's request carries no vernemq-hook header: the path names the hook.
    assert (
        answer(await client.post(f"{HOOK}/enhanced", json=enhanced(None, TOKEN_METHOD, token.encode()))) == ENHANCED_OK
    )
    assert answer(await hook(client, "on_auth_m5", enhanced(None, "SCRAM-SHA-256", b"x"))) == {
        "result": {"error": "bad_authentication_method"}
    }
    not_authorized = {"result": {"error": "not_authorized"}}
    assert answer(await hook(client, "on_auth_m5", enhanced(None, TOKEN_METHOD, b"adm_bogus"))) == not_authorized
    assert answer(await hook(client, "on_auth_m5", enhanced(None, TOKEN_METHOD, None))) == not_authorized
    assert (
        answer(await hook(client, "on_auth_m5", enhanced("someoneelse", TOKEN_METHOD, token.encode())))
        == not_authorized
    )
    # VerneMQ then calls auth_on_register_m5 with the CONNECT's properties: the same token admits it.
    connect = register_m5(None, None, properties=enhanced(None, TOKEN_METHOD, token.encode())["properties"])
    assert answer(await hook(client, "auth_on_register_m5", connect)) == {
        "result": "ok",
        "modifiers": {"username": "t1/m5dev"},
    }
    connect["properties"]["p_authentication_method"] = "OTHER"
    assert answer(await hook(client, "auth_on_register_m5", connect)) == DENY
    # And the session's user name is what publish and subscribe are decided by.
    assert answer(await hook(client, "auth_on_publish_m5", publish("t1/m5dev", "m5/x", m5=True))) == OK


async def token_of_any(services: Services, username: str) -> str:
    """A token of a user whose grant types may exclude passwords (the login checks the password only)."""
    return await token_of(services, username)


# --- dispatch, malformed requests ------------------------------------------------------------------


async def test_dispatch_on_the_vernemq_hook_header(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "disp", permissions=(("write", "x/#"),))

    async def post(name: str | None, body: Any) -> httpx.Response:
        headers = {"vernemq-hook": name} if name else {}
        return await client.post(
            HOOK, content=orjson.dumps(body), headers=headers | {"content-type": "application/json"}
        )

    assert answer(await post("auth_on_register", register_v3("disp", PW))) == OK
    assert answer(await post("auth_on_register_m5", register_m5("disp", "nope-nope-1"))) == DENY
    assert answer(await post("auth_on_publish", publish("disp", "x/1"))) == OK
    assert answer(await post("auth_on_subscribe", subscribe_v3("disp", ("x/1", 0)))) == {
        "result": "ok",
        "topics": [{"topic": "x/1", "qos": 128}],
    }
    assert answer(await post("on_auth_m5", enhanced(None, "FOO", None))) == {
        "result": {"error": "bad_authentication_method"}
    }
    missing = await post(None, register_v3("disp", PW))
    assert missing.status_code == 400
    assert missing.json()["statusCode"] == 400
    unknown = await post("on_register", register_v3("disp", PW))
    assert unknown.status_code == 404
    assert (await client.post(f"{HOOK}/on_publish", json={})).status_code == 404
    # A path and a header that disagree: denied.
    assert (
        answer(
            await hook(client, "auth_on_publish", publish("disp", "x/1"), headers={"vernemq-hook": "auth_on_register"})
        )
        == DENY
    )


@pytest.mark.parametrize(
    "name",
    [
        "auth_on_register",
        "auth_on_register_m5",
        "auth_on_publish",
        "auth_on_publish_m5",
        "auth_on_subscribe",
        "auth_on_subscribe_m5",
        "on_auth_m5",
    ],
)
async def test_malformed_requests_are_denied_with_200(client: httpx.AsyncClient, services: Services, name: str) -> None:
    for raw in (b"{not json", b"", b"[]", b'"ok"', b"null", orjson.dumps({"username": 5, "topics": "a", "topic": 3})):
        assert answer(await hook(client, name, None, raw=raw)) == DENY, raw
    bad_shapes = {
        "auth_on_register": register_v3("x", PW, client_cert="%%% not base64"),
        "auth_on_register_m5": register_m5("x", PW, properties=[]),
        "auth_on_publish": {"username": "x", "topic": None},
        "auth_on_publish_m5": {"username": "x"},
        "auth_on_subscribe": {"username": "x", "topics": [{"topic": "a", "qos": 3}]},
        "auth_on_subscribe_m5": {"username": "x", "topics": [{"topic": 1, "qos": 0}]},
        "on_auth_m5": {
            "username": "x",
            "properties": {"p_authentication_method": TOKEN_METHOD, "p_authentication_data": "*"},
        },
    }
    assert answer(await hook(client, name, bad_shapes[name])) == DENY


# --- the guard -------------------------------------------------------------------------------------


def client_from(services: Services, host: str) -> httpx.AsyncClient:
    app = create_app(services.settings, services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_without_a_secret_only_loopback_callers(client: httpx.AsyncClient, services: Services) -> None:
    await make_user(services, "guarded")
    async with client_from(services, "192.0.2.50") as remote:
        refused = await hook(remote, "auth_on_register", register_v3("guarded", PW))
    assert refused.status_code == 403
    assert refused.json()["statusCode"] == 403
    assert refused.json()["error"] == "Forbidden"
    async with client_from(services, "::1") as loopback6:
        assert answer(await hook(loopback6, "auth_on_register", register_v3("guarded", PW))) == OK
    # Through a proxy on the same host: refused too.
    proxied = await hook(
        client, "auth_on_register", register_v3("guarded", PW), headers={"x-forwarded-for": "203.0.113.9"}
    )
    assert proxied.status_code == 403


SECRET = "broker-hook-secret-0123456789abcdef"


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": f"Bearer {SECRET}"},
        {"x-admittance-broker-secret": SECRET},
        {"authorization": "Basic " + base64.b64encode(f"vernemq:{SECRET}".encode()).decode()},
    ],
    ids=["bearer", "header", "basic"],
)
async def test_with_a_secret(services: Services, headers: dict[str, str]) -> None:
    services.settings = services.settings.with_values(broker_hook_secret=SECRET)
    await make_user(services, "secured")
    async with client_from(services, "192.0.2.50") as remote:
        assert answer(await hook(remote, "auth_on_register", register_v3("secured", PW), headers=headers)) == OK
        for wrong in (
            {},
            {"authorization": "Bearer wrong-secret-0123456789abcdef"},
            {"x-admittance-broker-secret": SECRET + "x"},
            {"authorization": "Basic " + base64.b64encode(b"vernemq:nope").decode()},
        ):
            refused = await hook(remote, "auth_on_register", register_v3("secured", PW), headers=wrong)
            assert refused.status_code == 401, wrong
            assert refused.json() == {"statusCode": 401, "error": "Unauthorized", "message": "Invalid credentials"}
    # With a secret, loopback alone is not enough.
    async with client_from(services, "127.0.0.1") as local:
        assert (await hook(local, "auth_on_register", register_v3("secured", PW))).status_code == 401


# --- caching, logs ---------------------------------------------------------------------------------


async def test_cache_control_only_on_allowed_answers_when_configured(
    client: httpx.AsyncClient, services: Services
) -> None:
    await make_user(services, "cached", permissions=(("readWrite", "c/#"),))
    assert "cache-control" not in (await hook(client, "auth_on_register", register_v3("cached", PW))).headers
    # The settings are read when the app is built: an app for the changed settings.
    services.settings = services.settings.with_values(broker_hook_cache_seconds=30)
    async with client_from(services, "127.0.0.1") as cached:
        allowed = await hook(cached, "auth_on_register", register_v3("cached", PW))
        assert answer(allowed) == OK
        assert allowed.headers["cache-control"] == "max-age=30"
        published = await hook(cached, "auth_on_publish", publish("cached", "c/1"))
        assert published.headers["cache-control"] == "max-age=30"
        sub_all = await hook(cached, "auth_on_subscribe", subscribe_v3("cached", ("c/1", 0)))
        assert sub_all.headers["cache-control"] == "max-age=30"
        for denied in (
            await hook(cached, "auth_on_register", register_v3("cached", "Wrong-Passw0rd")),
            await hook(cached, "auth_on_publish", publish("cached", "d/1")),
            await hook(cached, "auth_on_subscribe", subscribe_v3("cached", ("c/1", 0), ("d/1", 0))),
        ):
            assert "cache-control" not in denied.headers


async def test_no_secret_reaches_the_log(
    client: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await make_user(services, "quiet", grant_types=[*PASSWORD_ONLY, *TOKEN_ONLY], permissions=(("write", "q/#"),))
    token = await token_of(services, "quiet")
    await hook(client, "auth_on_register", register_v3("quiet", PW))
    await hook(client, "auth_on_register", register_v3("quiet", "Wr0ng-but-Secret-Value"))
    await hook(client, "auth_on_register", register_v3("quiet", token))
    await hook(client, "auth_on_register", register_v3("quiet", token[:-2] + "zz"))
    await hook(client, "on_auth_m5", enhanced(None, TOKEN_METHOD, token.encode()))
    await hook(client, "auth_on_publish", publish("quiet", "q/1"))
    await hook(client, "auth_on_register", None, raw=b'{"password": "Leaky-Passw0rd", "username": ')
    text = caplog.text
    for secret in (
        PW,
        "Wr0ng-but-Secret-Value",
        token,
        token[:-2] + "zz",
        "Leaky-Passw0rd",
        "c2VjcmV0IHBheWxvYWQgNDI=",
    ):
        assert secret not in text
    assert "secret payload" not in text
