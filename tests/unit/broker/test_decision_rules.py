"""The pure rules of the broker decision core: a device's own topics, ACL entries, client ids, the
verified-login cache, and the coalescing last-contact recorder."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from admittance.broker.cache import LoginCache
from admittance.broker.model import (
    GrantType,
    MqttUser,
    SubjectKind,
    TopicGrant,
    device_permissions,
    own_topics_possible,
    topic_grants,
)
from admittance.identity.last_seen import LastSeenRecorder
from admittance.identity.model import Door, LastSeen, Sighting
from admittance.kernel.access import Context, Operation, Permission, topic_matches
from admittance.kernel.clock import FakeClock
from admittance.kernel.errors import Unavailable


def device(device_id: str, *, enabled: bool = True, stored: frozenset[Permission] = frozenset()) -> MqttUser:
    return MqttUser(
        user_id=7,
        tenant_id="t1",
        username=f"device_{device_id}",
        enabled=enabled,
        roles=frozenset({"ROLE_DEVICE"}),
        stored_permissions=stored,
        grant_types=(GrantType("password", False),),
        kind=SubjectKind.DEVICE,
    )


def test_ids_that_cannot_name_one_level_get_no_own_topics() -> None:
    for bad in ("", "a/b", "a+", "#", "$SYS", "x\x00"):
        assert not own_topics_possible(bad)
        assert device_permissions(bad) == frozenset()
    assert own_topics_possible("AA:BB:CC:DD:EE:FF")
    assert own_topics_possible("sensor.1")


_LEVEL = st.text(st.characters(codec="utf-8", exclude_characters="/+#\x00"), min_size=1, max_size=6)


@given(_LEVEL.filter(lambda t: not t.startswith("$")), _LEVEL.filter(lambda t: not t.startswith("$")))
def test_no_device_reaches_another_devices_topics(one: str, other: str) -> None:
    if one == other:
        return
    theirs = device_permissions(other)
    for mine in device_permissions(one):
        for topic in (p.resource.replace("+", "tpl") for p in theirs):
            assert not topic_matches(mine.resource, topic)


def test_topic_grants_merge_operations_per_filter_and_include_role_permissions() -> None:
    stored = frozenset(
        {
            Permission(Context.MQTT, Operation.READ, "plant/#"),
            Permission(Context.MQTT, Operation.WRITE, "plant/#"),
            Permission(Context.HTTP, Operation.READ_WRITE, "/inventory/#"),
        }
    )
    grants = topic_grants(device("d1", stored=stored))
    assert TopicGrant("plant/#", read=True, write=True) in grants
    assert TopicGrant("s/us/d1", read=False, write=True) in grants
    assert TopicGrant("s/ds/d1", read=True, write=False) in grants
    assert all(not grant.filter.startswith("/") for grant in grants)  # http permissions are not pushed
    assert list(grants) == sorted(grants)
    assert topic_grants(device("d1", enabled=False)) == ()


def test_a_device_must_use_its_device_id_as_client_id_others_choose() -> None:
    subject = device("d1")
    assert subject.client_id_allowed("d1")
    assert subject.client_id_allowed(None)
    assert not subject.client_id_allowed("d2")
    assert not subject.client_id_allowed("d1:template")
    person = MqttUser(1, "t1", "operator", True, frozenset())
    assert person.client_id_allowed("anything")


def test_login_cache_remembers_proofs_by_the_stored_hash_and_expires() -> None:
    clock = FakeClock()
    cache = LoginCache(clock, ttl_seconds=60, max_entries=2)
    assert not cache.verified(1, "secret", "hash-a")
    cache.remember(1, "secret", "hash-a")
    assert cache.verified(1, "secret", "hash-a")
    assert not cache.verified(1, "other", "hash-a")
    assert not cache.verified(1, "secret", "hash-b")  # a new password: a new stored hash
    assert not cache.verified(2, "secret", "hash-a")
    clock.advance(61)
    assert not cache.verified(1, "secret", "hash-a")
    for user in (1, 2, 3):
        cache.remember(user, "s", "h")
    assert len(cache) == 2
    assert not cache.verified(1, "s", "h")
    assert "secret" not in repr(cache)


class MemoryStore:
    def __init__(self) -> None:
        self.batches: list[list[Sighting]] = []
        self.fail = False

    async def record_seen(self, sightings: Sequence[Sighting]) -> None:
        if self.fail:
            raise Unavailable("database down")
        self.batches.append(list(sightings))

    async def last_seen(self, tenant_id: str, subjects: Sequence[str]) -> dict[str, LastSeen]:
        return {}


async def test_contacts_are_coalesced_per_subject_and_written_in_one_batch() -> None:
    store = MemoryStore()
    clock = FakeClock()
    recorder = LastSeenRecorder(store, clock, max_pending=3)
    for _ in range(1000):
        recorder.seen("t1", "device_a", Door.RABBITMQ)
    recorder.seen("t1", "device_a", Door.RABBITMQ, "192.0.2.1")
    clock.advance(1)
    recorder.seen("t1", "device_a", Door.RABBITMQ)  # RabbitMQ's user_path has no address: keep the vhost_path's
    recorder.seen("t1", "device_b", Door.HTTP, "x" * 200)
    assert recorder.pending == 2
    assert await recorder.flush() == 2
    (batch,) = store.batches
    seen = {item.subject: item.seen for item in batch}
    assert seen["device_a"] == LastSeen(clock.now(), Door.RABBITMQ, "192.0.2.1")
    assert seen["device_b"].address == "x" * 64
    assert await recorder.flush() == 0


async def test_a_failed_flush_keeps_the_contacts_and_the_buffer_is_bounded() -> None:
    store = MemoryStore()
    recorder = LastSeenRecorder(store, FakeClock(), max_pending=2)
    for name in ("a", "b", "c"):
        recorder.seen("t1", name, Door.EMQX)
    assert recorder.pending == 2
    assert recorder.dropped == 1
    store.fail = True
    assert await recorder.flush() == 0
    assert recorder.pending == 2
    store.fail = False
    assert await recorder.flush() == 2
