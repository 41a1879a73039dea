"""Claim token verification per tenant mode, replay protection and server-issued challenges, on
SQLite and PostgreSQL."""

from __future__ import annotations

import os

import pytest

from admittance.bootstrap import Services
from admittance.claiming.verification import REPLAY_MESSAGE, ClaimVerifier, VerifiedClaim
from admittance.kernel.access import RoleName
from admittance.kernel.clock import FakeClock
from admittance.kernel.errors import Conflict, InvalidInput, MalformedInput, PermissionDenied
from admittance.kernel.principal import Principal
from tests.support.nrf import device_key, mint, new_uuid, nrf_owner, public_pem, register_key


async def _verify(services: Services, token: str, *, consume: bool, tenant: str = "t1") -> VerifiedClaim:
    async with services.storage.transaction() as tx:
        return await services.claim_verifier.verify_in(tx, tenant, token, consume=consume)


async def test_known_keys_accepts_the_registered_key_only(services: Services) -> None:
    key, device = device_key(), new_uuid()
    assert await services.identity_keys.mode(nrf_owner()) == "known-keys"
    with pytest.raises(InvalidInput, match="No identity public key is registered"):
        await _verify(services, mint(key, device), consume=False)
    await register_key(services, key, device)
    verified = await _verify(services, mint(key, device), consume=True)
    assert verified.token.device_uuid == device
    assert verified.identity_key_pem == public_pem(key)
    with pytest.raises(InvalidInput, match="signature does not verify"):
        await _verify(services, mint(device_key(), device), consume=True)
    with pytest.raises(MalformedInput):
        await _verify(services, "not-a-token", consume=True)


async def test_structure_only_accepts_any_well_formed_token(services: Services) -> None:
    await services.identity_keys.set_mode(nrf_owner(), "structure-only")
    verified = await _verify(services, mint(), consume=True)
    assert verified.identity_key_pem is None
    await services.identity_keys.set_mode(nrf_owner(), "known-keys")
    with pytest.raises(InvalidInput):
        await _verify(services, mint(), consume=True)
    with pytest.raises(InvalidInput, match="Unknown claim verification mode"):
        await services.identity_keys.set_mode(nrf_owner(), "trust-everyone")


async def test_a_token_is_accepted_once_and_dry_runs_do_not_consume(services: Services) -> None:
    key, device = device_key(), new_uuid()
    await register_key(services, key, device)
    token = mint(key, device)
    await _verify(services, token, consume=False)
    await _verify(services, token, consume=False)
    await _verify(services, token, consume=True)
    with pytest.raises(Conflict, match=REPLAY_MESSAGE):
        await _verify(services, token, consume=True)
    with pytest.raises(Conflict, match=REPLAY_MESSAGE):
        await _verify(services, token, consume=False)
    # The same pair is a replay in every tenant; a new nonce is fine.
    await _verify(services, mint(key, device), consume=True)


async def test_a_rolled_back_claim_forgets_the_nonce(services: Services) -> None:
    await services.identity_keys.set_mode(nrf_owner(), "structure-only")
    token = mint()

    async def claim_then_fail() -> None:
        async with services.storage.transaction() as tx:
            await services.claim_verifier.verify_in(tx, "t1", token, consume=True)
            raise RuntimeError("the claim failed later")

    with pytest.raises(RuntimeError):
        await claim_then_fail()
    await _verify(services, token, consume=True)


async def test_challenges_are_used_once_and_expire(services: Services) -> None:
    key, device = device_key(), new_uuid()
    await register_key(services, key, device)
    challenge = await services.identity_keys.issue_challenge(nrf_owner())
    assert len(challenge.nonce) == 32
    assert int(challenge.nonce, 16) >= 0
    await _verify(services, mint(key, device, nonce=bytes.fromhex(challenge.nonce)), consume=True)
    other = device_key(), new_uuid()
    await register_key(services, *other)
    with pytest.raises(Conflict, match="challenge in this claim token was already used"):
        await _verify(services, mint(*other, nonce=bytes.fromhex(challenge.nonce)), consume=True)

    clock = FakeClock()
    verifier = ClaimVerifier(clock, challenge_seconds=60)
    async with services.storage.transaction() as tx:
        issued = await verifier.issue_challenge_in(tx, "t1")
    token = mint(key, device, nonce=bytes.fromhex(issued.nonce))
    clock.advance(61)
    with pytest.raises(InvalidInput, match="expired"):
        async with services.storage.transaction() as tx:
            await verifier.verify_in(tx, "t1", token, consume=True)
    # An ordinary device-generated nonce is not a challenge.
    await _verify(services, mint(key, device, nonce=os.urandom(16)), consume=True)


async def test_roles(services: Services) -> None:
    viewer = Principal.of(0, "t1", "viewer", [RoleName.NRF_VIEWER.value])
    editor = Principal.of(0, "t1", "editor", [RoleName.NRF_EDITOR.value])
    keys = services.identity_keys
    await keys.list_keys(viewer)
    assert await keys.mode(viewer) == "known-keys"
    await keys.issue_challenge(editor)
    for principal in (viewer, editor):
        with pytest.raises(PermissionDenied):
            await keys.import_keys(principal, f"{new_uuid()},{public_pem(device_key())}".encode())
        with pytest.raises(PermissionDenied):
            await keys.set_mode(principal, "structure-only")
        with pytest.raises(PermissionDenied):
            await keys.delete_key(principal, new_uuid())
    with pytest.raises(PermissionDenied):
        await keys.issue_challenge(viewer)
