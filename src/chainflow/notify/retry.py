"""When to try a failed delivery again: exponential backoff that honours ``retry_after``."""

from __future__ import annotations

from dataclasses import dataclass

from chainflow.notify.channels.base import DeliveryResult

__all__ = ["Outcome", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to do with a row after one attempt: its next state and, if pending, the delay."""

    state: str  # "sent" | "pending" | "failed" | "dead"
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``base_s * 2**(attempt-1)`` capped at ``max_s``; a provider's ``retry_after`` wins;
    ``max_attempts`` tries, then ``dead``; a permanent refusal is ``failed`` at once."""

    base_s: float
    max_s: float
    max_attempts: int

    def outcome(self, result: DeliveryResult, attempt: int) -> Outcome:
        """Return the next state after attempt number ``attempt`` (1-based) gave ``result``."""
        if result.ok:
            return Outcome("sent")
        if result.permanent:
            return Outcome("failed")
        if attempt >= self.max_attempts:
            return Outcome("dead")
        if result.retry_after_s is not None:
            return Outcome("pending", max(0.0, result.retry_after_s))
        return Outcome("pending", min(self.max_s, self.base_s * 2 ** (attempt - 1)))
