"""The steps of a training run shared by ``chainflow train`` and the default model:
bars to dataset, the registration of a trained bundle, JSON-safe metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainflow.bridge.api import AggregatedBar
from chainflow.core.auth import TierLimits
from chainflow.core.errors import InvalidInput
from chainflow.core.market import BarSeries, Timeframe
from chainflow.core.tenancy import TenantContext
from chainflow.features.api import get_feature_set
from chainflow.ml.registry.model_registry import ModelRegistry
from chainflow.ml.registry.types import ModelRegistration, ModelVersion
from chainflow.ml.training.datasets import Dataset, build_dataset
from chainflow.ml.training.families import SEQUENCE_FAMILIES, SEQUENCE_WINDOW
from chainflow.ml.training.labels import LabelSpec
from chainflow.ml.training.run import TrainingConfig, TrainingResult
from chainflow.storage.relational import Database

FEATURE_SET = "fx-core@1"
MIN_TEST_ROWS_PER_FOLD = 50
MAX_STORED_BARS = 200_000  # read from the store when --from is not given
CREATED_BY = "chainflow train"


# --- the run, without the command line ----------------------------------------------------


def training_bars(bars: Sequence[AggregatedBar], *, spread: float | None = None) -> BarSeries:
    """Bars as training arrays; ``spread`` fills the bars whose spread is unknown.

    When no bar has a spread and ``spread`` is None (an OHLCV CSV has no spread column) the
    spread is a constant 0: ``rel_spread_bps`` then scales to 0 on every row, so the model
    learns nothing from it (rather than from a made-up value). ``has_spread`` tells callers.
    """
    if not bars:
        raise InvalidInput("expected bars to train on; received none")
    spreads = np.array([b.spread_mean for b in bars], dtype=np.float64)
    if spread is not None:
        spreads = np.where(np.isfinite(spreads), spreads, spread)
    elif not np.isfinite(spreads).any():
        spreads = np.zeros(len(spreads))
    return BarSeries.from_arrays(
        ts=[b.ts for b in bars],
        open=[b.open for b in bars],
        high=[b.high for b in bars],
        low=[b.low for b in bars],
        close=[b.close for b in bars],
        volume=[b.volume for b in bars],
        spread=spreads,
    )


def has_spread(bars: Sequence[AggregatedBar]) -> bool:
    """Return whether any bar carries a spread (MT5 exports do, OHLCV CSVs do not)."""
    return any(math.isfinite(b.spread_mean) for b in bars)


def training_dataset(
    bars: BarSeries, label: LabelSpec, config: TrainingConfig, *, symbol: str, timeframe: Timeframe
) -> Dataset:
    """Features and labels of ``bars``; raise ``InvalidInput`` when too few rows are left."""
    try:
        dataset = build_dataset(
            bars, get_feature_set(FEATURE_SET), label, symbol=symbol, timeframe=timeframe.value
        )
    except ValueError as e:
        raise InvalidInput(str(e)) from e
    window = SEQUENCE_WINDOW if config.family in (*SEQUENCE_FAMILIES, "ensemble") else 1
    needed = math.ceil(config.n_folds * MIN_TEST_ROWS_PER_FOLD / (1 - config.min_train_fraction))
    needed += window - 1
    if len(dataset) < needed:
        raise InvalidInput(
            f"expected at least {needed} usable rows for {config.n_folds} folds of "
            f"{MIN_TEST_ROWS_PER_FOLD}+ test rows; received {len(dataset)} from {len(bars)} "
            f"bars (warm-up {get_feature_set(FEATURE_SET).warmup_bars} + horizon "
            f"{label.horizon} bars are lost): give more bars or fewer --folds"
        )
    return dataset


def registration_for(
    result: TrainingResult,
    dataset: Dataset,
    *,
    name: str,
    source: dict[str, Any],
    created_by: str = CREATED_BY,
) -> ModelRegistration:
    """What the registry stores besides the artifact: metrics, feature stats, provenance."""
    metrics = {**result.metrics(), "feature_stats": result.feature_stats, "source": source}
    return ModelRegistration(
        name=name,
        family=result.family,
        feature_set=dataset.feature_set,
        feature_set_fingerprint=dataset.fingerprint,
        label=dataset.label_spec.to_dict(),
        symbols=(dataset.symbol,),
        timeframe=dataset.timeframe,
        train_from_ts=int(dataset.ts[0]),
        train_to_ts=int(dataset.label_end_ts.max()),
        metrics=json_safe(metrics),
        created_by=created_by,
    )


async def register_trained(
    database: Database,
    registry: ModelRegistry,
    registration: ModelRegistration,
    artifact: bytes,
    *,
    promote: bool,
    owner: TenantContext | None = None,
    limits: TierLimits | None = None,
    force_reason: str | None = None,
    by: str | None = None,
) -> ModelVersion:
    """Register a model version, then promote it if ``promote``: a platform model in
    system units of work, or ``owner``'s custom model within its tier ``limits``.

    The promotion passes the gate (``chainflow.ml.registry.promotion_gate``); ``force_reason``
    forces it past a verdict that does not beat the baselines. It runs in a second unit of
    work, so a refused promotion (``ModelPromotionRefusedError``) leaves the version
    registered as a candidate.
    """
    unit = database.unit_of_work(owner) if owner else database.unit_of_work(system=True)
    async with unit as uow:
        model = await registry.register(uow, registration, artifact, owner=owner, limits=limits)
    if not promote:
        return model
    unit = database.unit_of_work(owner) if owner else database.unit_of_work(system=True)
    async with unit as uow:
        return await registry.promote(
            uow,
            model.name,
            model.version,
            owner=owner,
            force=force_reason is not None,
            reason=force_reason,
            by=by or registration.created_by,
        )


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float as None (JSON columns and strict parsers)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# --- the `chainflow train` command -------------------------------------------------------
