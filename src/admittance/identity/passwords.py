"""The password policy at work: a password someone chooses is checked against the policy, then hashed
with argon2id off the event loop; an account that never signs in with a password gets an unusable one."""

from __future__ import annotations

from admittance.identity.model import PasswordPolicy
from admittance.kernel.passwords import CredentialVerifier, PasswordHasher
from admittance.kernel.secrets import random_password


class ChosenPasswords:
    def __init__(self, policy: PasswordPolicy, verifier: CredentialVerifier, hasher: PasswordHasher) -> None:
        self.policy = policy
        self._verifier = verifier
        self._hasher = hasher

    def check(self, password: str, username: str) -> None:
        """InvalidInput naming the rule the password breaks."""
        self.policy.check(password, username)

    async def hash_checked(self, password: str) -> str:
        """argon2id of a password that passed `check` (on the bounded hashing pool)."""
        return await self._verifier.run_blocking_hash(password)

    async def hash(self, password: str, username: str) -> str:
        self.check(password, username)
        return await self.hash_checked(password)

    def unusable(self) -> str:
        """The hash of a random password nobody knows: no password opens the account."""
        return self._hasher.hash_generated(random_password(32))
