"""The pure rules: preferences (quiet hours in the user's zone), the retry policy, parsers."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from pydantic import ValidationError

from chainflow.notify.channels.base import DeliveryResult
from chainflow.notify.events import PARSERS
from chainflow.notify.preferences import Preferences, QuietHours, zone_of
from chainflow.notify.retry import RetryPolicy


class TestQuietHours:
    def test_follow_the_user_time_zone(self) -> None:
        quiet = QuietHours(start=time(22), end=time(7))
        jakarta = zone_of("Asia/Jakarta")  # UTC+7
        # 16:00 UTC is 23:00 in Jakarta: quiet until 07:00 local = 00:00 UTC next day
        moment = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)
        assert quiet.ends_after(moment, jakarta) == datetime(2026, 5, 5, 0, 0, tzinfo=UTC)
        # 01:00 UTC is 08:00 in Jakarta: not quiet
        assert quiet.ends_after(datetime(2026, 5, 4, 1, 0, tzinfo=UTC), jakarta) is None

    def test_critical_passes_and_unknown_zone_is_utc(self) -> None:
        preferences = Preferences(quiet_hours=QuietHours(start=time(1), end=time(3)))
        now = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
        assert preferences.deliver_at("critical", now, zone_of("Nowhere/Else")) == now
        assert preferences.deliver_at("info", now, zone_of("")) == now.replace(hour=3)


class TestPreferences:
    def test_min_severity_symbols_and_per_kind_channels(self) -> None:
        preferences = Preferences(
            min_severity="warning", symbols=("eurusd",), events={"circuit_breaker": ("push",)}
        )
        assert preferences.channels_for("model_recovered", "info", "EURUSD") == ()
        assert preferences.channels_for("model_underperforming", "warning", "GBPUSD") == ()
        assert preferences.channels_for("model_underperforming", "warning", "EURUSD") == (
            "email",
            "telegram",
        )
        assert preferences.channels_for("circuit_breaker", "critical", None) == ("push",)

    def test_unknown_channel_or_severity_is_refused(self) -> None:
        with pytest.raises(ValidationError):
            Preferences(default_channels=("pigeon",))
        with pytest.raises(ValidationError):
            Preferences(min_severity="loud")


class TestRetryPolicy:
    policy = RetryPolicy(base_s=2, max_s=60, max_attempts=5)

    @pytest.mark.parametrize(
        ("attempt", "state", "delay"), [(1, "pending", 2), (3, "pending", 8), (5, "dead", 0)]
    )
    def test_exponential_backoff_then_dead(self, attempt: int, state: str, delay: float) -> None:
        outcome = self.policy.outcome(DeliveryResult(ok=False), attempt)
        assert (outcome.state, outcome.delay_s) == (state, delay)

    def test_retry_after_wins_and_permanent_fails(self) -> None:
        assert self.policy.outcome(DeliveryResult(ok=False, retry_after_s=7), 4).delay_s == 7
        assert self.policy.outcome(DeliveryResult(ok=False, permanent=True), 1).state == "failed"
        assert (
            RetryPolicy(base_s=2, max_s=60, max_attempts=99)
            .outcome(DeliveryResult(ok=False), 20)
            .delay_s
            == 60
        )


class TestParsers:
    def test_identity_events_are_mandatory_and_sensitive(self) -> None:
        event = PARSERS["password_reset"](
            "users.password_reset.requested",
            {
                "user_id": "u1",
                "tenant_id": "t1",
                "email": "a@b.c",
                "locale": "id",
                "token": "secret",
                "expires_at_ms": 1,
                "ts_event_ms": 2,
            },
            "e1",
        )
        assert event is not None and event.mandatory and event.sensitive
        assert (event.kind, event.locale, event.email) == ("password_reset", "id", "a@b.c")

    def test_other_frames_on_a_topic_are_ignored_and_bad_payloads_raise(self) -> None:
        assert PARSERS["circuit_breaker"]("trading.risk.t", {"type": "other"}, "e") is None
        with pytest.raises(ValueError, match="tenant_id"):
            PARSERS["circuit_breaker"]("trading.risk.t", {"type": "circuit_breaker"}, "e")
