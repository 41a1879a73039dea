"""The one access model: MQTT-filter matching of permissions, filter coverage, and built-in roles
(Cumulocity's ROLE_* defined by permissions, so custom roles with the same reach count the same)."""

from __future__ import annotations

import itertools

import pytest

from admittance.kernel.access import (
    BUILTIN_ROLES,
    Context,
    Operation,
    Permission,
    filter_covers,
    operation_of_method,
    parse_permission,
    topic_matches,
)
from admittance.kernel.errors import InvalidInput, PermissionDenied
from admittance.kernel.principal import Principal, Role


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/+", "a", False),
        ("a/#", "a", True),  # '#' includes the parent level (MQTT 3.1.1 §4.7.1.2)
        ("a/#", "a/b/c", True),
        ("#", "a/b", True),
        ("#", "$SYS/broker", False),  # wildcards at the first level never reach '$' topics
        ("+/x", "$SYS/x", False),
        ("$SYS/#", "$SYS/broker/load", True),
        ("/api/users/+", "/api/users/17", True),
        ("/api/users/+", "/api/users/17/roles", False),
        ("/api/#", "/api", True),
        ("/devicecontrol/#", "/devicecontrolx/a", False),
        ("a//b", "a//b", True),
        ("a/+/b", "a//b", True),  # '+' matches an empty level
    ],
)
def test_topic_matching(topic_filter: str, topic: str, expected: bool) -> None:
    assert topic_matches(topic_filter, topic) is expected


@pytest.mark.parametrize(
    ("granted", "required", "expected"),
    [
        ("#", "a/#", True),
        ("a/#", "a/b/+", True),
        ("a/#", "a", True),
        ("a/+", "a/#", False),
        ("a/+", "a/+", True),
        ("a/+", "a/b", True),
        ("a/b", "a/+", False),
        ("a/+/c", "a/b/c", True),
        ("+/+", "a/#", False),
        ("#", "$SYS/#", False),
    ],
)
def test_filter_coverage(granted: str, required: str, expected: bool) -> None:
    assert filter_covers(granted, required) is expected


def test_coverage_agrees_with_matching_over_a_small_universe() -> None:
    """Exhaustively, over all filters and topics of up to three levels from a two-letter alphabet:
    coverage is sound (`granted` covers `required` only when every topic `required` matches is
    matched by `granted`), and exact for filters without '#'. With '#' it may refuse an equivalent
    spelling ('+/#' for '#'): a refusal too many, never an allowance too many."""
    levels = ["a", "b"]
    topics = ["/".join(parts) for n in range(1, 5) for parts in itertools.product(levels, repeat=n)]
    filters = sorted(
        {"/".join(parts) for n in range(1, 4) for parts in itertools.product(["a", "b", "+", "#"], repeat=n)}
    )
    filters = [f for f in filters if "#" not in f[:-1]]  # '#' only as the last level
    for granted, required in itertools.product(filters, repeat=2):
        subset = all(topic_matches(granted, t) for t in topics if topic_matches(required, t))
        if filter_covers(granted, required):
            assert subset, (granted, required)
        elif "#" not in required:
            assert not subset, (granted, required)


@pytest.mark.parametrize(
    ("context", "operation", "resource", "message"),
    [
        ("ftp", "read", "/a", "context"),
        ("http", "delete", "/a", "operation"),
        ("http", "read", "", "non-empty"),
        ("http", "read", "api/users", "start with '/'"),
        ("mqtt", "read", "a/#/b", "'#'"),
        ("mqtt", "read", "a/b+", "whole level"),
        ("mqtt", "read", "a\x00b", "control"),
        ("mqtt", "read", "x" * 1001, "at most"),
        ("mqtt", "read", 5, "non-empty string"),
    ],
)
def test_invalid_permissions_are_refused_with_a_reason(
    context: object, operation: object, resource: object, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_permission(context, operation, resource)


def test_operations_and_methods() -> None:
    assert Operation.READ_WRITE.covers(Operation.READ)
    assert Operation.READ_WRITE.covers(Operation.WRITE)
    assert not Operation.READ.covers(Operation.WRITE)
    assert not Operation.WRITE.covers(Operation.READ)
    assert [operation_of_method(m) for m in ("GET", "head", "OPTIONS", "POST", "PUT", "DELETE", "PATCH")] == [
        Operation.READ,
        Operation.READ,
        Operation.READ,
        Operation.WRITE,
        Operation.WRITE,
        Operation.WRITE,
        Operation.WRITE,
    ]


def _principal(roles: list[str], stored: list[Permission] | None = None) -> Principal:
    return Principal.of(1, "t1", "someone", roles, stored or [])


def test_a_custom_role_with_the_same_reach_counts_as_the_builtin_role() -> None:
    custom = _principal([], [Permission(Context.HTTP, Operation.READ_WRITE, "/devicecontrol/#")])
    assert custom.has(Role.DEVICE_CONTROL_ADMIN)
    assert custom.has(Role.DEVICE_CONTROL_READ)
    assert not custom.has(Role.INVENTORY_READ)
    reader = _principal([], [Permission(Context.HTTP, Operation.READ, "/devicecontrol/#")])
    assert reader.has(Role.DEVICE_CONTROL_READ)
    assert not reader.has(Role.DEVICE_CONTROL_ADMIN)
    narrow = _principal([], [Permission(Context.HTTP, Operation.READ_WRITE, "/devicecontrol/newDeviceRequests/+")])
    assert not narrow.has(Role.DEVICE_CONTROL_ADMIN)
    with pytest.raises(PermissionDenied):
        narrow.require(Role.DEVICE_CONTROL_ADMIN)


def test_connectware_admin_covers_every_capability_but_is_no_device_or_bootstrap_identity() -> None:
    admin = _principal(["connectware-admin"])
    for role in Role:
        expected = role not in (Role.DEVICE, Role.DEVICE_BOOTSTRAP)
        assert admin.has(role) is expected, role
    assert admin.permits_request("DELETE", "/api/users/5")
    assert admin.permits(Context.MQTT, Operation.WRITE, "factory/line1")
    assert not admin.permits(Context.MQTT, Operation.READ, "$SYS/broker/uptime")


def test_minimum_access_reads_its_session_only() -> None:
    minimum = _principal(["minimum-access"])
    assert minimum.permits_request("GET", "/api/session")
    assert not minimum.permits_request("GET", "/api/listUsers")
    assert not minimum.permits_request("POST", "/api/session")
    assert not any(minimum.has(role) for role in Role if role is not Role.MINIMUM_ACCESS)


def test_a_device_reaches_only_its_own_paths() -> None:
    device = _principal(["ROLE_DEVICE"])
    assert device.permits_request("GET", "/user/currentUser")
    assert device.permits_request("PUT", "/inventory/managedObjects/12")
    assert not device.permits_request("GET", "/inventory/managedObjects/12/childAssets")
    assert not device.permits_request("GET", "/devicecontrol/newDeviceRequests")
    assert not device.has(Role.INVENTORY_READ)
    assert not device.has(Role.IDENTITY_ADMIN)


def test_every_builtin_role_is_valid_and_named_by_its_key() -> None:
    for key, role in BUILTIN_ROLES.items():
        assert role.name.value == key
        for grant in role.permissions:
            assert parse_permission(grant.context.value, grant.operation.value, grant.resource) == grant
