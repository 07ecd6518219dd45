"""The parts of a training run (``chainflow.ml.training``) that score one piece: the
regressors of a fold, a fold's line in the report, feature statistics, the GARCH check,
the verdict over the out-of-sample rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chainflow.core.errors import InvalidInput
from chainflow.ml import gbm, onnx_export
from chainflow.ml.datasets import Dataset
from chainflow.ml.metrics import classification_metrics
from chainflow.ml.performance import bin_fractions, quantile_edges
from chainflow.ml.splits import Fold
from chainflow.ml.verdict import RegressionTarget, Verdict, training_verdict
from chainflow.ml.volatility_forecast import evaluate_volatility_forecast

if TYPE_CHECKING:
    from chainflow.ml.training import TrainingConfig

METRIC_KEYS = ("accuracy", "balanced_accuracy", "log_loss", "brier", "auc")


def run_verdict(
    ds: Dataset,
    rows: NDArray[np.int64],
    oos: dict[str, NDArray[np.float64]],
    config: TrainingConfig,
) -> Verdict:
    regressors = {
        "volatility": RegressionTarget(
            ds.forward_volatility[rows], oos["volatility"], ds.past_volatility[rows]
        ),
        "momentum": RegressionTarget(
            ds.forward_momentum[rows], oos["momentum"], np.zeros(len(rows))
        ),
    }
    return training_verdict(
        ds.y[rows],
        oos["model"],
        {name: oos[name] for name in ("majority", "previous_direction")},
        regressors,
        horizon=ds.label_spec.horizon,
        seed=config.seed,
        resamples=config.resamples,
    )


def rows_with_windows(dataset: Dataset, window: int) -> tuple[Dataset, NDArray[np.float64]]:
    if window == 1:
        return dataset, dataset.X
    windows, rows = dataset.window_tensor(window)
    if len(rows) == 0:
        raise InvalidInput(
            f"expected at least {window} consecutive usable bars for a window of {window}; "
            f"received {len(dataset)} rows"
        )
    return dataset.subset(rows), windows


def regress(
    X: NDArray[np.float64], target: NDArray[np.float64], fold: Fold, config: TrainingConfig
) -> NDArray[np.float64]:
    rows = fold.train[np.isfinite(target[fold.train])]
    model = gbm.train_lightgbm_regressor(
        X[rows], target[rows], seed=config.seed, n_threads=config.threads
    )
    return np.asarray(model.predict(np.asarray(X[fold.test], dtype=np.float32)), dtype=np.float64)


def final_regressor(
    X: NDArray[np.float64], target: NDArray[np.float64], config: TrainingConfig
) -> bytes:
    rows = np.isfinite(target)
    model = gbm.train_lightgbm_regressor(
        X[rows], target[rows], seed=config.seed, n_threads=config.threads
    )
    return onnx_export.regressor_to_onnx(model, X.shape[1])


def fold_report(ds: Dataset, fold: Fold, proba: NDArray[np.float64]) -> dict[str, Any]:
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


def feature_stats(ds: Dataset) -> dict[str, dict[str, list[float]]]:
    stats = {}
    for index, name in enumerate(ds.feature_names):
        edges = quantile_edges(ds.X[:, index], 10)
        stats[name] = {"edges": edges, "fractions": bin_fractions(edges, ds.X[:, index])}
    return stats


def garch_report(ds: Dataset) -> dict[str, float] | None:
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


def pick_metrics(scores: dict[str, float]) -> dict[str, float]:
    return {key: float(scores[key]) for key in METRIC_KEYS}
