"""Whether a claim token may claim its device: the tenant's verification mode, replay protection and
server-issued challenges.

Modes (tenants.claim_verification):
- `known-keys` (the default): the identity public key registered for the device UUID in this tenant
  (nrf_identity_keys) must verify the token's ES256 COSE_Sign1 (see claiming/token.py for the
  signed bytes). No registered key, or a signature that does not verify: refused.
- `structure-only` (for labs, explicitly enabled): the token is parsed only. A registered key, if
  any, is still returned (the device's JWTs are verified with it later) but not checked here.

Replay: a (device UUID, nonce) pair is accepted once, whoever presents it (nrf_token_nonces; the
insert is atomic). A second use is a Conflict, "This claim token was already used"; a dry run
reports the same without recording anything. When the nonce is a challenge this server issued
(nrf_challenges), it must be the claiming tenant's, unexpired and unused; a claim marks it used.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from admittance.claiming.model import Challenge
from admittance.claiming.store import ClaimTokenTransaction
from admittance.claiming.token import ClaimToken, parse_claim_token, verify_signature
from admittance.kernel.clock import Clock
from admittance.kernel.errors import Conflict, InvalidInput

REPLAY_MESSAGE = "This claim token was already used"
DEFAULT_CHALLENGE_SECONDS = 600


class ClaimVerificationMode(StrEnum):
    KNOWN_KEYS = "known-keys"
    STRUCTURE_ONLY = "structure-only"


def verification_mode(value: str | None) -> ClaimVerificationMode:
    """The stored mode; anything unknown counts as the strict default."""
    try:
        return ClaimVerificationMode(value) if value else ClaimVerificationMode.KNOWN_KEYS
    except ValueError:
        return ClaimVerificationMode.KNOWN_KEYS


@dataclass(frozen=True, slots=True)
class VerifiedClaim:
    token: ClaimToken
    identity_key_pem: str | None


class ClaimVerifier:
    def __init__(self, clock: Clock, *, challenge_seconds: int = DEFAULT_CHALLENGE_SECONDS) -> None:
        self._clock = clock
        self._challenge_seconds = challenge_seconds

    async def verify_in(
        self, tx: ClaimTokenTransaction, tenant_id: str, token_text: str, *, consume: bool
    ) -> VerifiedClaim:
        """Parse and check a token inside the caller's transaction; with consume=True record its
        nonce (and use its challenge), so that a rollback of the claim also forgets them."""
        token = parse_claim_token(token_text)
        store = tx.claim_tokens
        mode = verification_mode(await store.claim_verification(tenant_id))
        pem = await store.identity_key(tenant_id, token.device_uuid)
        if mode is ClaimVerificationMode.KNOWN_KEYS:
            if pem is None:
                raise InvalidInput(
                    f"No identity public key is registered for device {token.device_uuid}: "
                    "import it first (claim verification mode known-keys)"
                )
            key = serialization.load_pem_public_key(pem.encode("ascii"))
            if not isinstance(key, ec.EllipticCurvePublicKey) or not verify_signature(token, key):
                raise InvalidInput(
                    f"The claim token's signature does not verify with the identity key registered "
                    f"for device {token.device_uuid}"
                )
        now = self._clock.now()
        nonce = token.nonce_hex
        challenge = await store.challenge(nonce)
        if challenge is not None:
            self._check_challenge(challenge, tenant_id)
        if consume:
            if not await store.record_nonce(token.device_uuid, nonce, now):
                raise Conflict(REPLAY_MESSAGE)
            if challenge is not None and not await store.use_challenge(nonce, tenant_id, now):
                raise Conflict("The challenge in this claim token was already used")
        elif await store.nonce_seen(token.device_uuid, nonce):
            raise Conflict(REPLAY_MESSAGE)
        return VerifiedClaim(token, pem)

    def _check_challenge(self, challenge: Challenge, tenant_id: str) -> None:
        if challenge.tenant_id != tenant_id:
            raise InvalidInput("The claim token carries a challenge that was not issued to this tenant")
        if challenge.used_at is not None:
            raise Conflict("The challenge in this claim token was already used")
        if self._clock.now() >= challenge.expires_at:
            raise InvalidInput("The challenge in this claim token has expired: request a new one")

    async def issue_challenge_in(self, tx: ClaimTokenTransaction, tenant_id: str) -> Challenge:
        """A fresh nonce for `AT%ATTESTTOKEN="<challenge>"`: 32 hex digits, one use, expiring."""
        expires_at = self._clock.now() + timedelta(seconds=self._challenge_seconds)
        nonce = secrets.token_hex(16)
        await tx.claim_tokens.insert_challenge(nonce, tenant_id, expires_at)
        return Challenge(nonce, tenant_id, expires_at, None)
