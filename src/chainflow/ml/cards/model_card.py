"""The model card of one registered version: what it was trained on, how it scored, what
became of it, and how it has done live since its promotion.

``build_card`` reads everything but the live part from the registry record: the data range
and symbols, the label, the feature set and its fingerprint (the feature names from the
training distribution stored with the model), the out-of-sample scores against each
baseline with the verdict's block-bootstrap intervals (``chainflow.ml.training.verdict``), the
calibration (reliability bins, ECE), the top features, the cost-aware signal backtest of the
out-of-sample predictions with its equity curve, and the promotion decision with who forced
it and why (``chainflow.ml.registry.promotion_gate``). A version registered before any of these were
kept shows that section as ``None``.

``live_since_promotion`` adds the viewer's live quality of the version from the stored
prediction scores (``chainflow.ml.live.prediction_table``), scored with the same
``LivePerformance`` as ``GET /models/{name}/performance``: per symbol of the version, the
latest ``window`` scores between its promotion and its archiving (or now). ``fallback`` is
the viewer's live fallback in force that involves the version (``FallbackLog.affecting``):
since when, why, and the version (or ``hold``) that serves the tenant instead.

The equity curve has one point per walk-forward window (each window's compounded return)
unless the backtest stored a per-bar ``equity`` curve (``[{"ts", "equity"}]``). The card's
shape is in ``chainflow.ml.cards.types``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from chainflow.ml.cards.types import (
    Backtest,
    Calibration,
    Comparison,
    DataRange,
    EquityPoint,
    FallbackPart,
    Features,
    FeatureWeight,
    Importance,
    LiveMetrics,
    LiveSymbol,
    ModelCard,
    Promotion,
    ReliabilityBin,
    ScoreRow,
    Verdict,
)
from chainflow.ml.live.prediction_table import SCORES_TABLE, probabilities_of
from chainflow.ml.registry.promotion_gate import verdict_of
from chainflow.ml.registry.types import ModelStage, ModelVersion, VerdictStatus
from chainflow.ml.training.performance import LivePerformance, ScoredPrediction

if TYPE_CHECKING:
    from chainflow.core.ids import TenantId
    from chainflow.ml.registry.fallback_log import Fallback
    from chainflow.storage.api import TimeSeriesStore

__all__ = [
    "ModelCard",
    "LiveMetrics",
    "build_card",
    "fallback_part",
    "live_not_kept",
    "live_since_promotion",
]

TOP_FEATURES = 10
END_OF_TIME_MS = 2**62


def build_card(
    model: ModelVersion, live: LiveMetrics, fallback: Fallback | None = None
) -> ModelCard:
    """Assemble the card of ``model`` from its registry record, ``live`` and the viewer's
    live ``fallback`` in force that involves it, if any."""
    metrics = model.metrics
    return ModelCard(
        ref=model.ref,
        name=model.name,
        version=model.version,
        owner="platform" if model.is_platform else "tenant",
        family=model.family,
        members=[str(m) for m in metrics.get("members") or [model.family]],
        created_at=model.created_at,
        created_by=model.created_by,
        artifact_sha256=model.artifact_sha256,
        data=_data(model),
        label=model.label,
        features=_features(model),
        scores=_scores(model.family, metrics),
        verdict=_verdict(metrics),
        calibration=_calibration(_section(metrics, "calibration")),
        importance=_importance(_section(metrics, "importance")),
        backtest=_backtest(_section(metrics, "backtest")),
        promotion=_promotion(model),
        live=live,
        fallback=None if fallback is None else fallback_part(fallback),
    )


def fallback_part(fallback: Fallback) -> FallbackPart:
    """What a card or the model listing shows of a fallback in force."""
    to_ref = None if fallback.holds else f"{fallback.name}@{fallback.to_version}"
    return FallbackPart(
        since_ts=fallback.at_ms,
        model=f"{fallback.name}@{fallback.from_version}",
        fallback=to_ref,
        serves=to_ref or "hold",
        reason=fallback.reason,
        detail=fallback.detail,
        decided_by=fallback.decided_by,
        symbol=fallback.market,
        timeframe=fallback.timeframe,
        hit_rate=fallback.hit_rate,
        baseline_accuracy=fallback.baseline_accuracy,
        scored=fallback.scored,
        streak=fallback.streak,
    )


def live_not_kept(note: str, window: int = 0) -> LiveMetrics:
    """The live section of a card that has none, saying why."""
    return LiveMetrics(
        available=False, note=note, since_ts=None, until_ts=None, window=window, symbols=[]
    )


async def live_since_promotion(
    store: TimeSeriesStore,
    tenant_id: TenantId,
    model: ModelVersion,
    *,
    window: int,
    baseline_accuracy: float,
) -> LiveMetrics:
    """The tenant's live quality of ``model`` since its promotion, per symbol."""
    if model.promoted_at is None:
        return live_not_kept("never promoted: it has not served live predictions", window)
    since = epoch_ms(model.promoted_at)
    until = None
    if model.stage == ModelStage.ARCHIVED and model.archived_at is not None:
        until = epoch_ms(model.archived_at)
    await store.ensure_table(SCORES_TABLE)
    symbols = []
    for symbol in model.symbols:
        rows = await store.scan(
            SCORES_TABLE.name,
            tenant_id=tenant_id,
            symbol=symbol,
            start_ms=since,
            end_ms=END_OF_TIME_MS if until is None else until,
            limit=window,
            descending=True,
            where={"timeframe": model.timeframe, "model": model.ref},
        )
        tracker = LivePerformance(window=window, baseline_accuracy=baseline_accuracy)
        for row in reversed(rows):
            tracker.add(ScoredPrediction(row["ts"], probabilities_of(row), row["realized"]))
        report = tracker.report()
        symbols.append(
            LiveSymbol(
                symbol=symbol,
                timeframe=model.timeframe,
                scored=report["scored"],
                hit_rate=report["hit_rate"],
                brier=report["brier"],
                baseline_accuracy=baseline_accuracy,
                below_baseline=report["below_baseline"],
                calibration=report["calibration"],
            )
        )
    scored = sum(s.scored for s in symbols)
    note = f"{scored} scored predictions since the promotion (the latest {window} per symbol)"
    return LiveMetrics(
        available=True, note=note, since_ts=since, until_ts=until, window=window, symbols=symbols
    )


def epoch_ms(moment: datetime) -> int:
    """``moment`` as epoch milliseconds (a naive value is UTC, as SQLite returns it)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


# --- sections ----------------------------------------------------------------------------


def _section(metrics: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = metrics.get(key)
    return dict(value) if isinstance(value, Mapping) else {}


def _data(model: ModelVersion) -> DataRange:
    dataset = _section(model.metrics, "dataset")
    return DataRange(
        symbols=list(model.symbols),
        timeframe=model.timeframe,
        from_ts=model.train_from_ts,
        to_ts=model.train_to_ts,
        rows=dataset.get("rows"),
        source_bars=dataset.get("source_bars"),
        class_share=dict(dataset.get("class_share") or {}),
        source=_section(model.metrics, "source"),
    )


def _features(model: ModelVersion) -> Features:
    names = list(_section(model.metrics, "feature_stats"))
    count = _section(model.metrics, "dataset").get("features")
    return Features(
        feature_set=model.feature_set,
        fingerprint=model.feature_set_fingerprint,
        count=int(count) if isinstance(count, int) else len(names),
        names=names,
    )


def _scores(family: str, metrics: Mapping[str, Any]) -> list[ScoreRow]:
    oos = _section(metrics, "oos")
    if not oos:
        return []
    rows = [ScoreRow(name=family, metrics=oos)]
    for baseline, values in _section(metrics, "baselines").items():
        if isinstance(values, Mapping):
            rows.append(ScoreRow(name=f"baseline: {baseline}", metrics=dict(values)))
    return rows


def _verdict(metrics: Mapping[str, Any]) -> Verdict:
    stored = _section(metrics, "verdict")
    gate = verdict_of(metrics)
    comparisons = []
    for target, values in (stored.get("targets") or {}).items():
        for c in values.get("comparisons") or []:
            comparisons.append(
                Comparison(
                    target=target,
                    metric=values.get("metric", ""),
                    baseline=c["baseline"],
                    model=c.get("model"),
                    baseline_value=c.get("baseline_value"),
                    improvement=c.get("improvement"),
                    low=c.get("low"),
                    high=c.get("high"),
                    p_value=c.get("p_value"),
                    beats=bool(c.get("beats")),
                )
            )
    return Verdict(
        status=gate.status.value,
        sentence=gate.sentence,
        method=stored.get("method"),
        block=stored.get("block"),
        resamples=stored.get("resamples"),
        alpha=stored.get("alpha"),
        suspected_leak=stored.get("suspected_leak"),
        comparisons=comparisons,
    )


def _calibration(stored: dict[str, Any]) -> Calibration | None:
    if not stored.get("bins"):
        return None
    return Calibration(
        method=stored.get("method"),
        ece=stored.get("ece"),
        bins=[ReliabilityBin.model_validate(b) for b in stored["bins"]],
    )


def _importance(stored: dict[str, Any]) -> Importance | None:
    permutation = stored.get("permutation")
    if not permutation:
        return None
    shap = stored.get("tree_shap") or []
    return Importance(
        method=str(stored.get("method", "permutation")),
        permutation=[
            FeatureWeight(feature=p["feature"], value=p["increase"])
            for p in permutation[:TOP_FEATURES]
        ],
        tree_shap=[
            FeatureWeight(feature=s["feature"], value=s["mean_abs"]) for s in shap[:TOP_FEATURES]
        ]
        or None,
    )


def _backtest(stored: dict[str, Any]) -> Backtest | None:
    if not stored:
        return None
    per_bar = stored.get("equity")
    if per_bar:
        resolution: Literal["window", "bar"] = "bar"
        equity = [EquityPoint.model_validate(p) for p in per_bar]
    else:
        resolution, equity = "window", _window_curve(stored.get("windows") or [])
    return Backtest(
        skipped=stored.get("skipped"),
        strategy=stored.get("strategy"),
        total_return=stored.get("return"),
        sharpe=stored.get("sharpe"),
        max_drawdown=stored.get("max_drawdown"),
        trades=stored.get("trades"),
        bars=stored.get("bars"),
        costs=dict(stored.get("costs") or {}),
        warning=stored.get("warning"),
        resolution=resolution,
        equity=equity,
    )


def _window_curve(windows: list[dict[str, Any]]) -> list[EquityPoint]:
    if not windows:
        return []
    points = [EquityPoint(ts=int(windows[0]["from_ts"]), equity=1.0)]
    for window in windows:
        chained = points[-1].equity * (1.0 + float(window.get("return") or 0.0))
        points.append(EquityPoint(ts=int(window["to_ts"]), equity=chained))
    return points


def _promotion(model: ModelVersion) -> Promotion:
    verdict = verdict_of(model.metrics)
    gate: Literal["passes", "refuses"] = (
        "passes" if verdict.status == VerdictStatus.PASSED else "refuses"
    )
    override = model.promotion_override or {}
    forced = bool(override)
    return Promotion(
        stage=model.stage.value,
        decision=_decision(model, gate, override),
        gate=gate,
        promoted_at=model.promoted_at,
        archived_at=model.archived_at,
        forced=forced,
        forced_by=override.get("by") if forced else None,
        reason=override.get("reason") if forced else None,
        forced_at=override.get("at") if forced else None,
        verdict_when_forced=override.get("sentence") if forced else None,
    )


def _decision(model: ModelVersion, gate: str, override: Mapping[str, Any]) -> str:
    if override:
        what = "in production" if model.stage == ModelStage.PRODUCTION else "promoted, now archived"
        return (
            f"{what}: forced past the gate by {override.get('by') or 'an unnamed operator'} "
            f"({override.get('reason')}); its verdict then: {override.get('sentence')}"
        )
    if model.stage == ModelStage.PRODUCTION:
        return "in production: its verdict passed the promotion gate"
    if model.stage == ModelStage.ARCHIVED:
        if model.promoted_at is not None:
            return "archived after being in production"
        return "archived without being promoted"
    if gate == "passes":
        return "a candidate: the promotion gate would let it through"
    return "a candidate: the promotion gate refuses it unless forced with a reason"
