"""One training run: purged walk-forward evaluation, then the final model bundle.

``train_on_dataset`` evaluates a family honestly before fitting what is served: on each
purged walk-forward fold (``chainflow.ml.splits``) it fits on the past, predicts the test
block, and scores the model and two baselines (majority class; previous-bar direction) on
the concatenated out-of-sample rows. An ensemble of the available families learns its
weights for fold ``i`` only from the out-of-sample predictions of folds before ``i`` (equal
weights on the first), so its score is out-of-sample too. The volatility and momentum
regressors (LightGBM) are scored the same way against naive forecasts (past realized
volatility; no move), and a GARCH(1,1) volatility forecast against the same naive one.
Then every part is fitted on all rows, exported to ONNX and combined
into one bundle, whose outputs are checked against the native models on the last rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainflow.core.errors import InvalidInput
from chainflow.ml import ensemble, gbm, onnx_export
from chainflow.ml.bundle import combine_models
from chainflow.ml.datasets import Dataset
from chainflow.ml.families import (
    FAMILIES,
    GBM_FAMILIES,
    SEQUENCE_FAMILIES,
    Family,
    family,
    torch_available,
)
from chainflow.ml.metrics import (
    classification_metrics,
    majority_baseline,
    previous_direction_baseline,
    regression_skill,
)
from chainflow.ml.performance import bin_fractions, quantile_edges
from chainflow.ml.serving import ModelBundle
from chainflow.ml.splits import Fold, purged_walk_forward
from chainflow.ml.volatility_forecast import evaluate_volatility_forecast

Progress = Callable[[str, int, int], None]  # (stage, done, total)
PARITY_TOLERANCE = 1e-4
METRIC_KEYS = ("accuracy", "balanced_accuracy", "log_loss", "brier", "auc")


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    family: str = "lightgbm"
    n_folds: int = 5
    min_train_fraction: float = 0.4
    embargo: int | float = 0
    seed: int = 0
    threads: int = 2
    max_seconds_per_fit: float | None = None  # sequence models: stop an epoch loop early

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise InvalidInput(
                f"expected a model family among {', '.join(FAMILIES)}; received {self.family!r}"
            )


@dataclass(slots=True)
class TrainingResult:
    """What a run measured and produced (``onnx`` is the bundle to register)."""

    family: str
    members: tuple[str, ...]
    weights: tuple[float, ...]
    window: int
    dataset: dict[str, Any]
    folds: list[dict[str, Any]]
    oos: dict[str, float]
    baselines: dict[str, dict[str, float]]
    volatility: dict[str, Any]
    momentum: dict[str, float]
    feature_stats: dict[str, dict[str, list[float]]]
    parity_max_abs_diff: float
    onnx: bytes = field(repr=False)
    seconds: float = 0.0

    def metrics(self) -> dict[str, Any]:
        """Everything but the artifact, as the registry stores it."""
        return {
            "oos": self.oos,
            "baselines": self.baselines,
            "folds": self.folds,
            "volatility": self.volatility,
            "momentum": self.momentum,
            "members": list(self.members),
            "weights": list(self.weights),
            "window": self.window,
            "dataset": self.dataset,
            "parity_max_abs_diff": self.parity_max_abs_diff,
            "seconds": self.seconds,
        }


def members_of(name: str) -> tuple[str, ...]:
    """Return the families a run of ``name`` fits (the ensemble: all that are available)."""
    if name != "ensemble":
        return (name,)
    return (*GBM_FAMILIES, *(SEQUENCE_FAMILIES if torch_available() else ()))


def train_on_dataset(
    dataset: Dataset, config: TrainingConfig, progress: Progress | None = None
) -> TrainingResult:
    """Evaluate ``config.family`` on purged folds of ``dataset``, then build the bundle."""
    started = time.perf_counter()
    report = progress or (lambda stage, done, total: None)
    fams = [
        family(m, threads=config.threads, max_seconds=config.max_seconds_per_fit)
        for m in members_of(config.family)
    ]
    window = max(f.window for f in fams)
    ds, windows = _rows_with_windows(dataset, window)
    folds = purged_walk_forward(
        ds.ts,
        ds.label_end_ts,
        n_folds=config.n_folds,
        min_train_fraction=config.min_train_fraction,
        embargo=config.embargo,
    )
    inputs = {f.name: (windows if f.window > 1 else ds.X) for f in fams}
    oos_rows: list[NDArray[np.int64]] = []
    member_oos: list[list[NDArray[np.float64]]] = [[] for _ in fams]
    model_oos, majority_oos, previous_oos, vol_oos, mom_oos = [], [], [], [], []
    fold_reports: list[dict[str, Any]] = []
    steps = len(folds) * (len(fams) + 1) + len(fams) + 2
    done = 0
    for fold in folds:
        probas = []
        for index, fam in enumerate(fams):
            model = fam.fit(inputs[fam.name][fold.train], ds.y[fold.train], config.seed)
            probas.append(fam.predict(model, inputs[fam.name][fold.test]))
            member_oos[index].append(probas[-1])
            done += 1
            report(f"fold {fold.index + 1}/{len(folds)}: {fam.name}", done, steps)
        weights = _weights_before(member_oos, ds.y, oos_rows, len(fams))
        proba = ensemble.ensemble_proba(probas, weights) if len(fams) > 1 else probas[0]
        model_oos.append(proba)
        majority_oos.append(majority_baseline(ds.y[fold.train], len(fold.test)))
        previous_oos.append(
            previous_direction_baseline(
                ds.previous_direction[fold.test],
                ds.y[fold.train],
                ds.previous_direction[fold.train],
            )
        )
        vol_oos.append(_regress(ds.X, ds.forward_volatility, fold, config))
        mom_oos.append(_regress(ds.X, ds.forward_momentum, fold, config))
        oos_rows.append(fold.test)
        fold_reports.append(_fold_report(ds, fold, proba))
        done += 1
        report(f"fold {fold.index + 1}/{len(folds)}: regressors", done, steps)
    test_rows = np.concatenate(oos_rows)
    y_test = ds.y[test_rows]
    final_weights = _weights_before(member_oos, ds.y, oos_rows, len(fams), upto=len(folds))
    classifier, native = _final_classifier(fams, inputs, ds, final_weights, window, config)
    done += len(fams)
    report("final model", done, steps)
    bundle = combine_models(
        {
            "probabilities": (classifier, "probabilities"),
            "volatility": (_final_regressor(ds.X, ds.forward_volatility, config), "prediction"),
            "momentum": (_final_regressor(ds.X, ds.forward_momentum, config), "prediction"),
        },
        window=window if window > 1 else None,
        metadata={
            "feature_set": ds.feature_set,
            "fingerprint": ds.fingerprint,
            "family": config.family,
            "members": ",".join(f.name for f in fams),
            "label_horizon": str(ds.label_spec.horizon),
            "window": str(window),
        },
    )
    parity = _parity(bundle, inputs[fams[-1].name] if window > 1 else ds.X, native)
    done += 2
    report("exported", done, steps)
    return TrainingResult(
        family=config.family,
        members=tuple(f.name for f in fams),
        weights=tuple(float(w) for w in final_weights),
        window=window,
        dataset=ds.describe(),
        folds=fold_reports,
        oos=_pick(classification_metrics(y_test, np.concatenate(model_oos))),
        baselines={
            "majority": _pick(classification_metrics(y_test, np.concatenate(majority_oos))),
            "previous_direction": _pick(
                classification_metrics(y_test, np.concatenate(previous_oos))
            ),
        },
        volatility={
            **regression_skill(
                ds.forward_volatility[test_rows],
                np.concatenate(vol_oos),
                ds.past_volatility[test_rows],
            ),
            "garch": _garch(ds),
        },
        momentum=regression_skill(
            ds.forward_momentum[test_rows], np.concatenate(mom_oos), np.zeros(len(test_rows))
        ),
        feature_stats=_feature_stats(ds),
        parity_max_abs_diff=parity,
        onnx=bundle,
        seconds=round(time.perf_counter() - started, 3),
    )


def _rows_with_windows(dataset: Dataset, window: int) -> tuple[Dataset, NDArray[np.float64]]:
    if window == 1:
        return dataset, dataset.X
    windows, rows = dataset.window_tensor(window)
    if len(rows) == 0:
        raise InvalidInput(
            f"expected at least {window} consecutive usable bars for a window of {window}; "
            f"received {len(dataset)} rows"
        )
    return dataset.subset(rows), windows


def _weights_before(
    member_oos: Sequence[Sequence[NDArray[np.float64]]],
    y: NDArray[np.int64],
    oos_rows: Sequence[NDArray[np.int64]],
    n_members: int,
    upto: int | None = None,
) -> NDArray[np.float64]:
    """Ensemble weights learned on the out-of-sample rows of the folds before ``upto``."""
    seen = len(oos_rows) if upto is None else upto
    if n_members == 1:
        return np.ones(1)
    if seen == 0:
        return np.full(n_members, 1.0 / n_members)
    probas = [np.concatenate(list(m[:seen])) for m in member_oos]
    return ensemble.fit_ensemble_weights(probas, y[np.concatenate(list(oos_rows[:seen]))])


def _regress(
    X: NDArray[np.float64], target: NDArray[np.float64], fold: Fold, config: TrainingConfig
) -> NDArray[np.float64]:
    rows = fold.train[np.isfinite(target[fold.train])]
    model = gbm.train_lightgbm_regressor(
        X[rows], target[rows], seed=config.seed, n_threads=config.threads
    )
    return np.asarray(model.predict(np.asarray(X[fold.test], dtype=np.float32)), dtype=np.float64)


def _final_regressor(
    X: NDArray[np.float64], target: NDArray[np.float64], config: TrainingConfig
) -> bytes:
    rows = np.isfinite(target)
    model = gbm.train_lightgbm_regressor(
        X[rows], target[rows], seed=config.seed, n_threads=config.threads
    )
    return onnx_export.regressor_to_onnx(model, X.shape[1])


def _final_classifier(
    fams: Sequence[Family],
    inputs: dict[str, NDArray[np.float64]],
    ds: Dataset,
    weights: NDArray[np.float64],
    window: int,
    config: TrainingConfig,
) -> tuple[bytes, NDArray[np.float64]]:
    """Fit every member on all rows; return the classifier's ONNX and its native output on
    the last rows (for the parity check)."""
    tail = slice(-min(256, len(ds.y)), None)
    exported, natives = [], []
    for fam in fams:
        model = fam.fit(inputs[fam.name], ds.y, config.seed)
        exported.append((fam.export(model, ds.X.shape[1]), "probabilities"))
        natives.append(fam.predict(model, inputs[fam.name][tail]))
    if len(fams) == 1:
        return exported[0][0], natives[0]
    onnx_bytes = ensemble.ensemble_to_onnx(
        exported, weights, window=window, n_features=ds.X.shape[1]
    )
    return onnx_bytes, ensemble.ensemble_proba(natives, weights)


def _parity(bundle: bytes, inputs: NDArray[np.float64], native: NDArray[np.float64]) -> float:
    served = ModelBundle(bundle).predict(inputs[-len(native) :]).probabilities
    diff = float(np.max(np.abs(served - native)))
    if diff > PARITY_TOLERANCE:
        raise RuntimeError(
            f"expected the ONNX bundle to match the trained model within {PARITY_TOLERANCE}; "
            f"received a max difference of {diff}"
        )
    return diff


def _fold_report(ds: Dataset, fold: Fold, proba: NDArray[np.float64]) -> dict[str, Any]:
    scores = classification_metrics(ds.y[fold.test], proba)
    return {
        "fold": fold.index + 1,
        "train_rows": int(len(fold.train)),
        "test_rows": int(len(fold.test)),
        "test_from_ts": int(ds.ts[fold.test[0]]),
        "test_to_ts": int(ds.ts[fold.test[-1]]),
        "accuracy": scores["accuracy"],
        "log_loss": scores["log_loss"],
    }


def _feature_stats(ds: Dataset) -> dict[str, dict[str, list[float]]]:
    stats = {}
    for index, name in enumerate(ds.feature_names):
        edges = quantile_edges(ds.X[:, index], 10)
        stats[name] = {"edges": edges, "fractions": bin_fractions(edges, ds.X[:, index])}
    return stats


def _garch(ds: Dataset) -> dict[str, float] | None:
    """GARCH(1,1) against the naive forecast on the same closes (refit every 50 bars)."""
    try:
        result = evaluate_volatility_forecast(ds.close, ds.label_spec.horizon)
    except (InvalidInput, ValueError):
        return None  # too few rows for a fit and a test part
    return {
        "forecasts": result.n_forecasts,
        "mae": result.garch_mae,
        "rmse": result.garch_rmse,
        "naive_mae": result.naive_mae,
        "naive_rmse": result.naive_rmse,
    }


def _pick(scores: dict[str, float]) -> dict[str, float]:
    return {key: float(scores[key]) for key in METRIC_KEYS}
