"""The consumer of the ml service's live alerts (``ml.alerts.<tenant>``): what the owners of
a tenant hear about their model.

Every alert is a JSON object whose ``type`` is its kind (the ml service documents them in
``chainflow.ml.events``); each becomes a ``NotifyEvent`` of the same kind, addressed to the
tenant's owners and admins and then routed like every other notification: their
preferences (channels per kind, minimum severity, symbols, quiet hours, digests), their
tier's channels, the tenant's template overrides. Templates: ``templates/<locale>/<kind>.txt``.

- ``model_underperforming`` (warning): the rolling live hit rate fell below the baseline;
- ``model_recovered`` (info): it is back at or above the baseline;
- ``model_drifting`` (warning): live features drift from the training distribution;
- ``model_fallback`` (warning; critical when the tenant is left with ``hold``): the model
  was replaced by its previous production version, or by hold;
- ``model_retrained`` (info when promoted; warning when the gate kept it a candidate): a
  scheduled retrain.

The hub reads the documented JSON only (it never imports the ml service's event classes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainflow.core.errors import MalformedEventError
from chainflow.notify.events import EventSource, NotifyEvent

__all__ = [
    "DURABLE",
    "MODEL_ALERT_KINDS",
    "MODEL_ALERT_ROLES",
    "MODEL_ALERT_SAMPLES",
    "model_alert_source",
    "parse_model_alert",
]

DURABLE = "notify-ml-alerts"
MODEL_ALERT_ROLES = ("owner", "admin")
MODEL_ALERT_KINDS: tuple[str, ...] = (
    "model_underperforming",
    "model_recovered",
    "model_drifting",
    "model_fallback",
    "model_retrained",
)


def _severity(kind: str, payload: Mapping[str, Any]) -> str:
    if kind == "model_recovered":
        return "info"
    if kind == "model_fallback":
        return "critical" if payload.get("fallback") is None else "warning"
    if kind == "model_retrained":
        return "info" if payload.get("promoted") is True else "warning"
    return "warning"


def _ts(payload: Mapping[str, Any]) -> int:
    value = payload.get("ts")
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedEventError(f"expected an integer field 'ts'; received {value!r}")
    return value


def _tenant(payload: Mapping[str, Any]) -> str:
    value = payload.get("tenant_id")
    if not isinstance(value, str) or not value:
        raise MalformedEventError(
            f"expected a non-empty string field 'tenant_id'; received {value!r}"
        )
    return value


def parse_model_alert(
    _subject: str, payload: Mapping[str, Any], event_id: str
) -> NotifyEvent | None:
    """Return the notification of one ml alert (None: a kind the hub does not announce)."""
    kind = payload.get("type")
    if kind not in MODEL_ALERT_KINDS:
        return None
    return NotifyEvent(
        event_id=event_id,
        kind=str(kind),
        tenant_id=_tenant(payload),
        severity=_severity(str(kind), payload),
        occurred_at_ms=_ts(payload),
        data=dict(payload),
        symbol=payload.get("symbol") or None,
        roles=MODEL_ALERT_ROLES,
    )


def model_alert_source(subject: str) -> EventSource:
    """The durable consumer of ``subject`` (every tenant's ``ml.alerts``)."""
    return EventSource(DURABLE, subject, parse_model_alert)


MODEL_ALERT_SAMPLES: Mapping[str, Mapping[str, Any]] = {
    "model_drifting": {
        "model": "fx-default@3",
        "symbol": "EURUSD",
        "timeframe": "H1",
        "max_psi": 0.41,
        "threshold": 0.25,
        "features": ["atr_rel_14", "rv_cc_20"],
        "vectors": 500,
    },
    "model_fallback": {
        "model": "fx-default@3",
        "fallback": "fx-default@2",
        "reason": "model_underperforming",
        "detail": "stayed below its baseline for 100 consecutive scored predictions on "
        "EURUSD H1: live hit rate 0.380 over the last 500, baseline accuracy 0.430",
        "by": "chainflow live monitor",
        "symbol": "EURUSD",
        "timeframe": "H1",
        "hit_rate": 0.38,
        "baseline_accuracy": 0.43,
        "scored": 500,
        "streak": 100,
    },
    "model_retrained": {
        "model": "fx-default@4",
        "previous": "fx-default@3",
        "promoted": False,
        "sentence": "does not beat the majority baseline (p=0.31): do not trade it",
        "symbol": "EURUSD",
        "timeframe": "H1",
        "bars": 5000,
    },
}
"""Preview data of the kinds added here (``notify.samples`` holds the older two)."""
