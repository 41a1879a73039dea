"""Passwords supplied in manifests (ADR 0006): the random-enough rule, salted keyed digests, pending
digests wrapped in argon2id without the plaintext, and verification of every scheme."""

from __future__ import annotations

import pytest

from admittance.kernel.passwords import PENDING_SCHEME, WRAPPED_SCHEME, PasswordHasher
from admittance.kernel.secrets import HMAC_SCHEME, Pepper, is_random_enough, pool_entropy_bits


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(Pepper(b"k" * 32))


@pytest.mark.parametrize(
    ("secret", "random_enough"),
    [
        ("Xk9-f8Jq2LmZ7pR4tW1vB6nC", True),  # 24 characters, 4 classes
        ("aB3dE5gH7jK9mN1pQ2sT4vW6", True),  # 24 alphanumerics, 3 classes
        ("abcd1234", False),  # the seed's example: short
        ("correcthorsebatterystaple", False),  # one class
        ("0123456789abcdef0123456789abcdef", False),  # hex: two classes
        ("Aa1Aa1Aa1Aa1Aa1Aa1Aa1Aa1", False),  # repetitive: 3 distinct characters
        ("Password1Password1Pass", False),  # 11 distinct characters
    ],
)
def test_the_random_enough_rule(secret: str, random_enough: bool) -> None:
    assert is_random_enough(secret) is random_enough


def test_pool_entropy_is_length_times_log2_of_the_classes_present() -> None:
    assert pool_entropy_bits("aaaa") == pytest.approx(4 * 4.700439718)  # log2(26)
    assert pool_entropy_bits("") == 0.0


def test_random_supplied_passwords_are_final_keyed_digests(hasher: PasswordHasher) -> None:
    stored = hasher.hash_supplied("Xk9-f8Jq2LmZ7pR4tW1vB6nC")
    scheme, salt, digest = stored.split("$")
    assert (scheme, len(salt), len(digest)) == (HMAC_SCHEME, 16, 64)
    assert not hasher.is_slow(stored)
    assert hasher.verify("Xk9-f8Jq2LmZ7pR4tW1vB6nC", stored)
    assert not hasher.verify("Xk9-f8Jq2LmZ7pR4tW1vB6nD", stored)


def test_the_same_password_never_gives_the_same_stored_value(hasher: PasswordHasher) -> None:
    first, second = hasher.hash_supplied("abcd1234"), hasher.hash_supplied("abcd1234")
    assert first != second
    assert hasher.verify("abcd1234", first)
    assert hasher.verify("abcd1234", second)


def test_weak_supplied_passwords_are_pending_then_wrapped_in_argon2id(hasher: PasswordHasher) -> None:
    pending = hasher.hash_supplied("abcd1234")
    assert pending.startswith(PENDING_SCHEME + "$")
    assert hasher.verify("abcd1234", pending)
    assert not hasher.is_slow(pending)
    wrapped = hasher.wrap_pending(pending)
    assert wrapped.startswith(WRAPPED_SCHEME + "$" + pending.split("$")[1] + "$$argon2id$")
    assert "abcd1234" not in wrapped
    assert pending.split("$")[2] not in wrapped
    assert hasher.is_slow(wrapped)
    assert hasher.verify("abcd1234", wrapped)
    assert not hasher.verify("abcd1235", wrapped)


def test_only_pending_digests_can_be_wrapped(hasher: PasswordHasher) -> None:
    with pytest.raises(ValueError, match="pending"):
        hasher.wrap_pending(hasher.hash_supplied("Xk9-f8Jq2LmZ7pR4tW1vB6nC"))
    with pytest.raises(ValueError, match="pending"):
        hasher.wrap_pending(PENDING_SCHEME + "$nosalt")


def test_another_pepper_verifies_nothing(hasher: PasswordHasher) -> None:
    stolen_without_key = PasswordHasher(Pepper(b"x" * 32))
    for stored in (hasher.hash_supplied("abcd1234"), hasher.wrap_pending(hasher.hash_supplied("abcd1234"))):
        assert not stolen_without_key.verify("abcd1234", stored)
