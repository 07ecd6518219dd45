"""The shape of a model card (``chainflow.ml.cards.model_card`` fills it): the JSON of
``GET /api/v1/models/{name}/{version}/card`` and what the HTML page and the CLI show.

Timestamps of data are epoch milliseconds (``*_ts``); moments of the registry record are
datetimes, as in ``ModelVersionOut``. A section that training did not record is ``None``.
``FallbackPart`` is also what ``GET /api/v1/models`` shows of a production version the
caller's tenant is no longer served.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "Backtest",
    "Calibration",
    "Comparison",
    "DataRange",
    "EquityPoint",
    "FallbackPart",
    "FeatureWeight",
    "Features",
    "Importance",
    "LiveMetrics",
    "LiveSymbol",
    "ModelCard",
    "Promotion",
    "ReliabilityBin",
    "ScoreRow",
    "Verdict",
]


class CardPart(BaseModel):
    model_config = ConfigDict(frozen=True)


class DataRange(CardPart):
    symbols: list[str]
    timeframe: str
    from_ts: int
    to_ts: int
    rows: int | None
    source_bars: int | None
    class_share: dict[str, float]
    source: dict[str, Any]


class Features(CardPart):
    feature_set: str
    fingerprint: str
    count: int
    names: list[str]


class ScoreRow(CardPart):
    name: str  # the model's family, or "baseline: <name>"
    metrics: dict[str, float | None]


class Comparison(CardPart):
    target: str
    metric: str
    baseline: str
    model: float | None
    baseline_value: float | None
    improvement: float | None
    low: float | None
    high: float | None
    p_value: float | None
    beats: bool


class Verdict(CardPart):
    status: Literal["passed", "failed", "unknown"]
    sentence: str
    method: str | None
    block: int | None
    resamples: int | None
    alpha: float | None
    suspected_leak: Any
    comparisons: list[Comparison]


class ReliabilityBin(CardPart):
    low: float
    high: float
    rows: int
    confidence: float
    hit_rate: float


class Calibration(CardPart):
    method: str | None
    ece: float | None
    bins: list[ReliabilityBin]


class FeatureWeight(CardPart):
    feature: str
    value: float


class Importance(CardPart):
    method: str
    permutation: list[FeatureWeight]  # the top TOP_FEATURES, largest first
    tree_shap: list[FeatureWeight] | None


class EquityPoint(CardPart):
    ts: int
    equity: float


class Backtest(CardPart):
    skipped: str | None
    strategy: str | None
    total_return: float | None
    sharpe: float | None
    max_drawdown: float | None
    trades: int | None
    bars: int | None
    costs: dict[str, float]
    warning: str | None
    resolution: Literal["window", "bar"]
    equity: list[EquityPoint]


class Promotion(CardPart):
    stage: str
    decision: str  # one plain sentence
    gate: Literal["passes", "refuses"]  # what the gate says of this version's verdict
    promoted_at: datetime | None
    archived_at: datetime | None
    forced: bool
    forced_by: str | None
    reason: str | None
    forced_at: str | None
    verdict_when_forced: str | None


class LiveSymbol(CardPart):
    symbol: str
    timeframe: str
    scored: int
    hit_rate: float | None
    brier: float | None
    baseline_accuracy: float
    below_baseline: bool
    calibration: list[dict[str, float | int]]


class LiveMetrics(CardPart):
    available: bool
    note: str
    since_ts: int | None
    until_ts: int | None
    window: int
    symbols: list[LiveSymbol]


class FallbackPart(CardPart):
    """A live fallback in force for the viewer's tenant (``chainflow.ml.registry.fallback_log``):
    since when, why, and what serves the tenant instead (``serves``: a ref, or ``hold``)."""

    since_ts: int
    model: str  # the version fallen back from, name@version
    fallback: str | None  # the version served instead; None: hold
    serves: str  # ``fallback``, or "hold"
    reason: str  # machine code, e.g. model_underperforming
    detail: str
    decided_by: str
    symbol: str  # the symbol whose live record triggered it
    timeframe: str
    hit_rate: float
    baseline_accuracy: float
    scored: int
    streak: int


class ModelCard(CardPart):
    """One version's card: the JSON of ``GET /models/{name}/{version}/card``."""

    ref: str
    name: str
    version: int
    owner: Literal["platform", "tenant"]
    family: str
    members: list[str]
    created_at: datetime
    created_by: str | None
    artifact_sha256: str
    data: DataRange
    label: dict[str, Any]
    features: Features
    scores: list[ScoreRow]
    verdict: Verdict
    calibration: Calibration | None
    importance: Importance | None
    backtest: Backtest | None
    promotion: Promotion
    live: LiveMetrics
    fallback: FallbackPart | None = None  # the viewer's live fallback, when one is in force
