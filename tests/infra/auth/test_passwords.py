"""Argon2id password hashing."""

from __future__ import annotations

from infra.auth.passwords import Argon2PasswordHasher

PASSWORD = "correct horse battery staple"


def test_hashes_are_argon2id_salted_and_verify() -> None:
    hasher = Argon2PasswordHasher()

    first, second = hasher.hash(PASSWORD), hasher.hash(PASSWORD)

    assert first.startswith("$argon2id$")
    assert first != second
    assert PASSWORD not in first
    assert hasher.verify(first, PASSWORD)
    assert not hasher.verify(first, PASSWORD + "!")
    assert not hasher.needs_rehash(first)


def test_a_malformed_hash_verifies_nothing() -> None:
    hasher = Argon2PasswordHasher()

    assert not hasher.verify("not a hash", PASSWORD)
    assert not hasher.verify("", PASSWORD)


def test_weaker_parameters_ask_for_a_rehash() -> None:
    weak = Argon2PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash(PASSWORD)

    hasher = Argon2PasswordHasher()

    assert hasher.verify(weak, PASSWORD)
    assert hasher.needs_rehash(weak)
