"""The bootstrap listener's front door: user names and addresses as the password check sees them."""

from __future__ import annotations

import pytest

from admittance.mqtt.door import BootstrapDoor, peer_host


@pytest.mark.parametrize(
    ("source", "host"),
    [("127.0.0.1:5000", "127.0.0.1"), ("::1:5000", "::1"), ("[::1]:5000", "::1"), ("unix-socket", "unix-socket")],
)
def test_rate_limits_count_the_address_without_its_port(source: str, host: str) -> None:
    assert peer_host(source) == host


def test_a_bare_user_name_is_in_the_default_tenant() -> None:
    door = BootstrapDoor(None, None, default_tenant="t7")  # type: ignore[arg-type]
    assert door.presented("management/devicebootstrap", "pw", "10.0.0.1:1").tenant_id == "management"
    bare = door.presented("devicebootstrap", "pw", "10.0.0.1:1")
    assert (bare.tenant_id, bare.username, bare.source) == ("t7", "devicebootstrap", "10.0.0.1")
