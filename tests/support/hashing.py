"""Password hashing for the tests that do not measure it: argon2id with the same encoding at the
smallest cost argon2 allows (one pass over 8 KiB, one lane), microseconds where the production cost
takes about 110 ms a hash. Tests marked `production_hashing` keep the production cost."""

from __future__ import annotations

from argon2 import PasswordHasher as Argon2Hasher

from admittance.kernel.passwords import PasswordHasher
from admittance.kernel.secrets import Pepper

CHEAP_ARGON2 = Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1)


def cheap_hasher(pepper: Pepper) -> PasswordHasher:
    return PasswordHasher(pepper, CHEAP_ARGON2)
