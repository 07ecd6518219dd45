"""The password policy's rules and messages, and argon2id hashing."""

from __future__ import annotations

import asyncio
import os

import pytest

from chainflow.users.errors import WeakPasswordError
from chainflow.users.passwords import (
    Argon2PasswordHasher,
    password_policy_violations,
    require_strong_password,
)
from tests.users.conftest import FAST_HASHING


def rules(password: str, email: str | None = None) -> set[str]:
    return {v.rule for v in password_policy_violations(password, email)}


class TestPasswordPolicy:
    def test_long_mixed_password_passes(self) -> None:
        assert rules("Correct-Horse-42", "ada@example.com") == set()

    def test_short_password_names_the_minimum_and_the_length(self) -> None:
        (violation,) = password_policy_violations("Ab1!xyz")
        assert violation.rule == "min_length"
        assert violation.message == ("the password must be at least 10 characters long; it was 7")

    def test_one_kind_of_character_is_refused(self) -> None:
        (violation,) = password_policy_violations("abcdefghijkl")
        assert violation.rule == "character_classes"
        assert "it has only lower-case letters" in violation.message

    def test_password_containing_the_email_local_part_is_refused(self) -> None:
        assert rules("Xx-Margaret-99", "margaret@example.com") == {"contains_email"}
        # Short local parts are too common a substring to forbid.
        assert rules("Xx-Al-Long-99", "al@example.com") == set()

    @pytest.mark.parametrize("common", ["Password123", "QWERTY12345", "1q2w3e4r5t"])
    def test_common_passwords_are_refused_whatever_the_case(self, common: str) -> None:
        assert "common_password" in rules(common)

    def test_too_long_password_is_refused(self) -> None:
        assert rules("Aa1" * 100) == {"max_length"}

    def test_error_lists_every_rule_and_never_the_password(self) -> None:
        with pytest.raises(WeakPasswordError) as raised:
            require_strong_password("zoe", "zoe@example.com")
        error = raised.value
        assert error.code == "weak_password" and error.status == 422
        assert [d["rule"] for d in error.details] == [
            "min_length",
            "character_classes",
            "contains_email",
        ]
        assert error.message.startswith("The password does not meet the policy: ")
        assert "'zoe'" not in error.message


class TestArgon2PasswordHasher:
    async def test_hash_is_argon2id_and_verifies_only_the_password(self) -> None:
        hasher = Argon2PasswordHasher(**FAST_HASHING)
        hashed = await hasher.hash("Correct-Horse-42")
        assert hashed.startswith("$argon2id$")
        assert await hasher.verify(hashed, "Correct-Horse-42")
        assert not await hasher.verify(hashed, "Correct-Horse-43")

    async def test_garbage_hash_does_not_verify(self) -> None:
        hasher = Argon2PasswordHasher(**FAST_HASHING)
        assert not await hasher.verify("not-a-hash", "Correct-Horse-42")
        assert hasher.needs_rehash("not-a-hash")

    async def test_other_parameters_need_a_rehash(self) -> None:
        weak = Argon2PasswordHasher(**FAST_HASHING)
        strong = Argon2PasswordHasher(time_cost=2, memory_cost_kib=16, parallelism=1)
        hashed = await weak.hash("Correct-Horse-42")
        assert strong.needs_rehash(hashed) and not weak.needs_rehash(hashed)
        assert await strong.verify(hashed, "Correct-Horse-42")

    async def test_dummy_verification_spends_a_verification(self) -> None:
        hasher = Argon2PasswordHasher(**FAST_HASHING)
        await hasher.verify_dummy("anything")
        await hasher.verify_dummy("anything else")

    def test_concurrent_work_defaults_to_one_per_core(self) -> None:
        assert Argon2PasswordHasher(**FAST_HASHING).max_concurrent == (os.cpu_count() or 1)
        assert Argon2PasswordHasher(**FAST_HASHING, max_concurrent=3).max_concurrent == 3
        with pytest.raises(ValueError, match="at least 1; received 0"):
            Argon2PasswordHasher(**FAST_HASHING, max_concurrent=0)

    async def test_a_flood_beyond_the_slots_queues_and_completes(self) -> None:
        hasher = Argon2PasswordHasher(**FAST_HASHING, max_concurrent=1)
        hashed = await hasher.hash("Correct-Horse-42")
        results = await asyncio.gather(
            *(hasher.verify(hashed, "Correct-Horse-42" if i % 2 else "x") for i in range(32))
        )
        assert results == [bool(i % 2) for i in range(32)]
