"""The broker decision core on a real store (both databases): who may connect, a device's own topics,
client ids pinned to devices, the verified-login cache and what invalidates it, certificate logins by
common name, nRF claimed devices, and where each subject was last seen."""

from __future__ import annotations

import pytest

from admittance.bootstrap import Services
from admittance.broker.model import ConnectAttempt, SubjectKind, TopicGrant, topic_grants
from admittance.identity.directory_model import GrantMethod, GrantType, UserChanges
from admittance.identity.model import Door
from tests.support.accounts import PASSWORD, admin_of, user_named
from tests.support.broker_subjects import accepted_device, connect, mqtt_user
from tests.support.client_certificates import issue_to
from tests.support.credentials import BOOTSTRAP_PASSWORD
from tests.support.nrf import nrf_owner
from tests.support.nrf_provisioning import claimed
from tests.support.tls_pki import client_csr


async def user_id_of(services: Services, username: str) -> int:
    found = await user_named(services, username)
    assert found is not None
    return found.id


async def certificate_device(services: Services, device_id: str) -> str:
    """A device user (admitted the Cumulocity way) that authenticates only by a certificate issued
    to it as EST issues them (owner device_<id>, CN <id>). Its certificate's serial."""
    issued = await accepted_device(services, device_id)
    admin = await admin_of(services)
    user_id = await user_id_of(services, issued.username)
    await services.users.update_user(
        admin, user_id, UserChanges(grant_types=(GrantType(GrantMethod.CERTIFICATE, False),))
    )
    _key, csr = client_csr(device_id)
    certificate = await services.certificates.issue(
        csr, tenant_id="t1", owner=issued.username, common_name=device_id, issued_via="est"
    )
    return certificate.serial


async def test_an_accepted_device_connects_with_its_device_id_as_client_id(services: Services) -> None:
    device = await accepted_device(services, "sensor-1")
    decision = await connect(services, f"t1/{device.username}", device.password, "sensor-1")
    assert decision.allowed
    assert decision.subject is not None
    assert decision.subject.kind is SubjectKind.DEVICE
    assert decision.subject.device_id == "sensor-1"
    # Another client id would let it take over another device's session: refused.
    assert not (await connect(services, f"t1/{device.username}", device.password, "sensor-2")).allowed
    assert not (await connect(services, f"t1/{device.username}", "wrong-password", "sensor-1")).allowed


async def test_the_bootstrap_identity_never_connects_to_a_broker(services: Services) -> None:
    decision = await connect(services, "management/devicebootstrap", BOOTSTRAP_PASSWORD, "any")
    assert not decision.allowed


async def test_a_device_has_its_own_cumulocity_topics_and_no_one_elses(services: Services) -> None:
    device = await accepted_device(services, "sensor-1")
    await accepted_device(services, "sensor-2")
    name = f"t1/{device.username}"
    broker = services.broker
    for topic in ("s/us/sensor-1", "s/uc/my-template/sensor-1", "s/ut/my-template/sensor-1", "s/uat/sensor-1"):
        assert (await broker.publish(name, topic, client_id="sensor-1")).allowed, topic
    for topic in ("s/us/sensor-2", "s/us", "s/ds/sensor-1", "s/us/sensor-1/x", "c8y/s/us"):
        assert not (await broker.publish(name, topic, client_id="sensor-1")).allowed, topic
    granted = await broker.subscribe(
        name, ["s/ds/sensor-1", "s/dc/+/sensor-1", "s/e/sensor-1", "s/ds/sensor-2", "s/ds/+", "#", "s/us/sensor-1"]
    )
    assert granted.granted == (True, True, True, False, False, False, False)
    assert await broker.receive(name, "s/ds/sensor-1")
    assert not await broker.receive(name, "s/ds/sensor-2")
    # Asked with another client id, the device is no one.
    assert not (await broker.publish(name, "s/us/sensor-1", client_id="sensor-2")).allowed


async def test_topic_grants_are_the_acl_entries_a_push_writes(services: Services) -> None:
    device = await accepted_device(services, "sensor-1")
    subject = await services.broker.subject(f"t1/{device.username}")
    assert subject is not None
    assert topic_grants(subject) == (
        TopicGrant("s/dat/sensor-1", read=True, write=False),
        TopicGrant("s/dc/+/sensor-1", read=True, write=False),
        TopicGrant("s/ds/sensor-1", read=True, write=False),
        TopicGrant("s/dt/sensor-1", read=True, write=False),
        TopicGrant("s/e/sensor-1", read=True, write=False),
        TopicGrant("s/uat/sensor-1", read=False, write=True),
        TopicGrant("s/uc/+/sensor-1", read=False, write=True),
        TopicGrant("s/us/sensor-1", read=False, write=True),
        TopicGrant("s/ut/+/sensor-1", read=False, write=True),
    )
    await mqtt_user(services, "gateway", ("readWrite", "plant/#"), ("read", "s/us/+"))
    gateway = await services.broker.subject("gateway")
    assert gateway is not None
    assert topic_grants(gateway) == (
        TopicGrant("plant/#", read=True, write=True),
        TopicGrant("s/us/+", read=True, write=False),
    )


async def test_a_disabled_device_is_refused_at_once_though_its_login_was_cached(services: Services) -> None:
    device = await accepted_device(services, "sensor-1")
    name = f"t1/{device.username}"
    assert (await connect(services, name, device.password, "sensor-1")).allowed
    admin = await admin_of(services)
    user_id = await user_id_of(services, device.username)
    await services.users.update_user(admin, user_id, UserChanges(enabled=False))
    assert not (await connect(services, name, device.password, "sensor-1")).allowed
    assert not (await services.broker.publish(name, "s/us/sensor-1")).allowed
    await services.users.update_user(admin, user_id, UserChanges(enabled=True))
    assert (await connect(services, name, device.password, "sensor-1")).allowed


async def test_a_deleted_device_is_refused(services: Services) -> None:
    device = await accepted_device(services, "sensor-1")
    name = f"t1/{device.username}"
    assert (await connect(services, name, device.password, "sensor-1")).allowed
    await services.users.delete_user(await admin_of(services), await user_id_of(services, device.username))
    assert not (await connect(services, name, device.password, "sensor-1")).allowed
    assert (await services.broker.subscribe(name, ["s/ds/sensor-1"])).granted == (False,)


async def test_a_reconnect_storm_costs_no_slow_hash_and_a_new_password_misses_at_once(services: Services) -> None:
    await mqtt_user(services, "operator", ("readWrite", "plant/#"))
    before = services.verifier.slow_verifications
    for _ in range(20):
        assert (await connect(services, "operator", PASSWORD, "console-1")).allowed
    assert services.verifier.slow_verifications == before + 1
    assert services.broker.logins.hits == 19
    admin = await admin_of(services)
    await services.users.update_user(
        admin, await user_id_of(services, "operator"), UserChanges(password="another-Secret-4712")
    )
    assert not (await connect(services, "operator", PASSWORD, "console-1")).allowed
    assert (await connect(services, "operator", "another-Secret-4712", "console-1")).allowed


async def test_roles_changes_bite_on_the_next_decision(services: Services) -> None:
    user_id = await mqtt_user(services, "operator", ("readWrite", "plant/#"))
    assert (await services.broker.publish("operator", "plant/line-1")).allowed
    admin = await admin_of(services)
    await services.users.update_user(admin, user_id, UserChanges(permissions=()))
    assert not (await services.broker.publish("operator", "plant/line-1")).allowed


async def test_a_certificate_login_by_common_name_until_the_certificate_is_revoked(services: Services) -> None:
    serial = await certificate_device(services, "meter-7")
    decision = await connect(services, None, None, "meter-7", certificate_cn="meter-7")
    assert decision.allowed
    assert decision.subject is not None
    assert decision.subject.username == "device_meter-7"
    # The broker names the client by its common name in every later question.
    assert (await services.broker.publish("meter-7", "s/us/meter-7", client_id="meter-7")).allowed
    assert not (await connect(services, None, None, "meter-7", certificate_cn="meter-8")).allowed
    await services.revocation.revoke(await admin_of(services), serial, "keyCompromise")
    assert not (await connect(services, None, None, "meter-7", certificate_cn="meter-7")).allowed
    assert not (await services.broker.publish("meter-7", "s/us/meter-7", client_id="meter-7")).allowed
    # By its user name too: a device that may authenticate only by certificate holds none left.
    assert not (await services.broker.publish("t1/device_meter-7", "s/us/meter-7")).allowed


async def test_a_certificate_name_that_also_names_another_user_is_refused(services: Services) -> None:
    await certificate_device(services, "meter7")
    assert (await connect(services, None, None, "meter7", certificate_cn="meter7")).allowed
    await mqtt_user(services, "meter7", ("readWrite", "#"))
    assert not (await connect(services, None, None, "meter7", certificate_cn="meter7")).allowed


async def test_an_nrf_claimed_device_by_its_certificate_until_blocked(services: Services) -> None:
    _key, device_id = await claimed(services)
    _device_key, csr = client_csr(device_id)
    await services.certificates.issue(
        csr, tenant_id="t1", owner=device_id, common_name=device_id, issued_via="nrf-provisioning"
    )
    decision = await connect(services, None, None, device_id, certificate_cn=device_id)
    assert decision.allowed
    assert decision.subject is not None
    assert decision.subject.kind is SubjectKind.NRF_DEVICE
    assert (await services.broker.publish(device_id, f"s/us/{device_id}", client_id=device_id)).allowed
    assert not (await connect(services, None, None, "another", certificate_cn=device_id)).allowed
    await services.claiming.set_blocked(nrf_owner(), device_id, blocked=True)
    assert not (await connect(services, None, None, device_id, certificate_cn=device_id)).allowed
    assert not (await services.broker.publish(device_id, f"s/us/{device_id}", client_id=device_id)).allowed


async def test_a_forwarded_certificate_we_issued_authenticates_its_owner(services: Services) -> None:
    await mqtt_user(services, "agent1", ("readWrite", "agents/agent1/#"))
    admin = await admin_of(services)
    await services.users.update_user(
        admin,
        await user_id_of(services, "agent1"),
        UserChanges(grant_types=(GrantType(GrantMethod.CERTIFICATE, False),)),
    )
    certificate = await issue_to(services, "agent1")
    decision = await services.broker.connect(
        ConnectAttempt(None, None, "agent1", "192.0.2.7", client_cert=certificate.der),
        Door.VERNEMQ,
    )
    assert decision.allowed
    assert decision.username == "t1/agent1"
    await services.revocation.revoke(admin, certificate.issued.serial)
    assert not (await services.broker.publish("t1/agent1", "agents/agent1/x")).allowed


@pytest.mark.parametrize("door", [Door.RABBITMQ, Door.MOSQUITTO_PULL, Door.EMQX, Door.VERNEMQ])
async def test_every_connect_records_where_the_subject_was_last_seen(services: Services, door: Door) -> None:
    device = await accepted_device(services, "sensor-1")
    recorder = services.last_seen
    await recorder.flush()
    assert (await connect(services, f"t1/{device.username}", device.password, "sensor-1", door=door)).allowed
    assert recorder.pending == 1
    assert await recorder.flush() == 1
    seen = (await recorder.last_seen("t1", [device.username]))[device.username]
    assert (seen.door, seen.address) == (door, "192.0.2.50")
    assert seen.at == services.clock.now() or abs((services.clock.now() - seen.at).total_seconds()) < 5
