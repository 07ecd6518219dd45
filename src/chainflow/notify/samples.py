"""Data each kind's template is previewed and checked with (``POST
/api/v1/notifications/preview``, a tenant's override on save). The ml alerts' kinds added
with the live fallback and retraining bring their own (``notify.model_alerts``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainflow.notify.model_alerts import MODEL_ALERT_SAMPLES

__all__ = ["SAMPLE_DATA"]

SAMPLE_DATA: Mapping[str, Mapping[str, Any]] = {
    "verification": {
        "email": "ana@example.com",
        "token": "sample-token",
        "expires_at_ms": 1_798_761_600_000,
    },
    "password_reset": {
        "email": "ana@example.com",
        "token": "sample-token",
        "expires_at_ms": 1_798_761_600_000,
    },
    "invitation": {
        "email": "budi@example.com",
        "role": "trader",
        "token": "sample-token",
        "expires_at_ms": 1_798_761_600_000,
    },
    "sign_in_locked": {
        "email": "ana@example.com",
        "failed_attempts": 5,
        "ip": "203.0.113.7",
        "locked_until_ms": 1_798_761_600_000,
    },
    "duplicate_registration": {"email": "ana@example.com", "ip": "203.0.113.7"},
    "circuit_breaker": {"reason": "daily loss limit of 3% reached", "ts": 1_798_761_600_000},
    "model_underperforming": {
        "model": "fx-default@3",
        "symbol": "EURUSD",
        "timeframe": "H1",
        "hit_rate": 0.41,
        "baseline_accuracy": 0.55,
        "scored": 120,
    },
    "model_recovered": {
        "model": "fx-default@3",
        "symbol": "EURUSD",
        "timeframe": "H1",
        "hit_rate": 0.57,
        "baseline_accuracy": 0.55,
        "scored": 120,
    },
    "backtest_finished": {
        "job_id": "0190f0c1a2b3",
        "kind": "backtest",
        "status": "succeeded",
        "symbol": "EURUSD",
        "timeframe": "H1",
        "error": None,
    },
    "binding_disabled": {"channel_name": "Telegram", "reason": "the bot was blocked"},
    "digest": {
        "period": "daily",
        "count": 2,
        "more": 0,
        "items": [
            {"at_ms": 1_798_758_000_000, "severity": "warning", "subject": "Model alert"},
            {"at_ms": 1_798_761_600_000, "severity": "info", "subject": "Backtest finished"},
        ],
    },
    "phone_verification": {"code": "123456", "expires_at_ms": 1_798_761_600_000},
    "renewal_due": {
        "order_id": "CF-0190f0c1",
        "plan": "pro",
        "period": "monthly",
        "gross_amount_idr": 1_665_000,
        "redirect_url": "https://app.sandbox.midtrans.com/snap/v4/redirection/sample",
        "current_period_end_ms": 1_798_761_600_000,
    },
    "payment_failed": {
        "order_id": "CF-0190f0c1",
        "plan": "pro",
        "period": "monthly",
        "kind": "renewal",
        "status": "expire",
        "gross_amount_idr": 1_665_000,
    },
    "subscription_expiring": {
        "plan": "pro",
        "status": "past_due",
        "expires_at_ms": 1_798_761_600_000,
    },
    "new_sign_in": {
        "email": "ana@example.com",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        "ts_event_ms": 1_798_761_600_000,
    },
    "api_key_created": {
        "api_key_id": "0190f0c1a2b3c4d5e6f708192a3b4c5d",
        "name": "MT5 terminal",
        "scopes": ["ticks:write", "signals:read"],
        "ip": None,
        "user_agent": None,
        "ts_event_ms": 1_798_761_600_000,
    },
    "password_changed": {
        "email": "ana@example.com",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        "ts_event_ms": 1_798_761_600_000,
    },
    "email_changed": {
        "old_email": "ana@example.com",
        "new_email": "ana.s@example.com",
        "ip": "203.0.113.7",
        "user_agent": None,
        "ts_event_ms": 1_798_761_600_000,
    },
    "terminal_disconnected": {
        "terminal": "MT5 terminal",
        "disconnected_at_ms": 1_798_761_300_000,
        "minutes": 5,
    },
    "terminal_reconnected": {"terminal": "MT5 terminal", "minutes": 12},
    "test": {},
    **MODEL_ALERT_SAMPLES,
}
