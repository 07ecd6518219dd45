"""Passwords: argon2id hashing off the event loop, and the password policy.

The policy's messages say what a good password needs; they never repeat the password.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from chainflow.users.errors import WeakPasswordError

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
MIN_CHARACTER_CLASSES = 2
MIN_LOCAL_PART_CHECKED = 3

# Passwords long enough and mixed enough to pass the other rules, yet among the first
# guessed by every cracking list. Compared case-insensitively.
COMMON_PASSWORDS = frozenset(
    {
        "password123",
        "password1234",
        "password12345",
        "passw0rd123",
        "p@ssw0rd123",
        "qwerty12345",
        "qwerty123456",
        "qwertyuiop1",
        "qwertyuiop123",
        "1q2w3e4r5t",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "zaq12wsxcde",
        "qazwsxedc123",
        "abcdef12345",
        "abc123456789",
        "iloveyou123",
        "letmein1234",
        "welcome1234",
        "welcome123!",
        "admin12345",
        "administrator1",
        "football123",
        "baseball123",
        "sunshine123",
        "princess123",
        "trustno1234",
        "changeme123",
        "monkey12345",
        "dragon12345",
        "master12345",
        "superman123",
        "chainflow123",
        "trading1234",
        "metatrader5",
    }
)


@dataclass(frozen=True, slots=True)
class PolicyViolation:
    """One rule of the password policy that a password broke."""

    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}


def _character_classes(password: str) -> set[str]:
    classes: set[str] = set()
    for character in password:
        if character.islower():
            classes.add("lower-case letters")
        elif character.isupper():
            classes.add("upper-case letters")
        elif character.isdigit():
            classes.add("digits")
        else:
            classes.add("symbols")
    return classes


def password_policy_violations(password: str, email: str | None = None) -> list[PolicyViolation]:
    """Return every rule of the policy that ``password`` breaks (empty when it is fine)."""
    violations: list[PolicyViolation] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        violations.append(
            PolicyViolation(
                "min_length",
                f"the password must be at least {MIN_PASSWORD_LENGTH} characters long; "
                f"it was {len(password)}",
            )
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        violations.append(
            PolicyViolation(
                "max_length",
                f"the password must be at most {MAX_PASSWORD_LENGTH} characters long; "
                f"it was {len(password)}",
            )
        )
    classes = _character_classes(password)
    if password and len(classes) < MIN_CHARACTER_CLASSES:
        violations.append(
            PolicyViolation(
                "character_classes",
                "the password must mix at least two kinds of characters (lower-case letters, "
                f"upper-case letters, digits, symbols); it has only {', '.join(sorted(classes))}",
            )
        )
    local_part = (email or "").partition("@")[0].lower()
    if len(local_part) >= MIN_LOCAL_PART_CHECKED and local_part in password.lower():
        violations.append(
            PolicyViolation(
                "contains_email",
                "the password must not contain the part of the e-mail address before the @",
            )
        )
    if password.lower() in COMMON_PASSWORDS:
        violations.append(
            PolicyViolation(
                "common_password",
                "the password is one of the most commonly used passwords; choose another",
            )
        )
    return violations


def require_strong_password(password: str, email: str | None = None) -> None:
    """Raise ``WeakPasswordError`` listing every rule ``password`` breaks."""
    violations = password_policy_violations(password, email)
    if violations:
        raise WeakPasswordError(
            "The password does not meet the policy: "
            + "; ".join(v.message for v in violations)
            + ".",
            details=[v.to_dict() for v in violations],
        )


class Argon2PasswordHasher:
    """argon2id hashing; the CPU-heavy work runs in a worker thread, off the event loop.

    The parameters default to argon2-cffi's (RFC 9106 low-memory profile). A stored hash
    made with other parameters verifies still, and ``needs_rehash`` tells the caller to
    store a fresh one.

    At most ``max_concurrent`` hashes or verifications run at once (default: one per CPU
    core); the others wait their turn, so a flood of sign-ins queues instead of taking
    every core and ``memory_cost_kib`` of memory per request. Callers must not hold a
    database transaction while they wait (see ``users.service.sign_in``).
    """

    def __init__(
        self,
        *,
        time_cost: int | None = None,
        memory_cost_kib: int | None = None,
        parallelism: int | None = None,
        max_concurrent: int | None = None,
    ) -> None:
        defaults = PasswordHasher()
        self._hasher = PasswordHasher(
            time_cost=time_cost if time_cost is not None else defaults.time_cost,
            memory_cost=memory_cost_kib if memory_cost_kib is not None else defaults.memory_cost,
            parallelism=parallelism if parallelism is not None else defaults.parallelism,
        )
        slots = max_concurrent if max_concurrent is not None else (os.cpu_count() or 1)
        if slots < 1:
            raise ValueError(f"max_concurrent must be at least 1; received {slots}")
        self.max_concurrent = slots
        self._slots = asyncio.Semaphore(slots)
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        """Return the argon2id hash of ``password``."""
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Return whether ``password`` matches ``password_hash``."""
        async with self._slots:
            return await asyncio.to_thread(self._verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """Return whether ``password_hash`` was made with other parameters than these."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification, for callers whose account does not exist."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("chainflow-dummy-password-for-timing")
        await self.verify(self._dummy_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
