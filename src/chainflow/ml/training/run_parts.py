"""The parts of a training run (``chainflow.ml.training.run``) that score one piece: the
walk-forward folds (bar groups when the dataset holds forming-bar snapshots), the
regressors of a fold, a fold's line in the report, feature statistics, the GARCH check,
the verdict over the out-of-sample rows, and the bundle's input widened back to the
served vector when dead inputs were dropped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import helper, numpy_helper

from chainflow.core.errors import InvalidInput
from chainflow.ml.training import gbm, onnx_export
from chainflow.ml.training.datasets import Dataset
from chainflow.ml.training.metrics import classification_metrics
from chainflow.ml.training.performance import bin_fractions, quantile_edges
from chainflow.ml.training.splits import Fold, purged_walk_forward
from chainflow.ml.training.verdict import RegressionTarget, Verdict, training_verdict
from chainflow.ml.training.volatility_forecast import evaluate_volatility_forecast

if TYPE_CHECKING:
    from chainflow.ml.training.run import TrainingConfig

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
    """Deciles of each feature over the closed-bar rows (what live drift compares with)."""
    closed = ds.X[ds.closed_rows]
    stats = {}
    for index, name in enumerate(ds.feature_names):
        edges = quantile_edges(closed[:, index], 10)
        stats[name] = {"edges": edges, "fractions": bin_fractions(edges, closed[:, index])}
    return stats


def garch_report(ds: Dataset) -> dict[str, float] | None:
    """GARCH(1,1) against the naive forecast on the same closes (refit every 50 bars)."""
    try:
        result = evaluate_volatility_forecast(ds.close[ds.closed_rows], ds.label_spec.horizon)
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


def walk_forward_folds(ds: Dataset, config: TrainingConfig) -> list[Fold]:
    """Purged walk-forward folds of ``ds``, cut on its closed-bar rows: with forming-bar
    snapshots each fold trains on every row of its training bars (one group per bar, so the
    purge and an embargo in bars hold for all of a bar's rows) and tests on closed rows, so
    the out-of-sample rows are those of the same run without snapshots."""
    closed = ds.closed_rows
    folds = purged_walk_forward(
        ds.ts[closed],
        ds.label_end_ts[closed],
        n_folds=config.n_folds,
        min_train_fraction=config.min_train_fraction,
        embargo=config.embargo,
    )
    if closed.size == len(ds):
        return folds
    bar_of_closed = ds.bar_index[closed]
    return [
        Fold(
            train=np.flatnonzero(np.isin(ds.bar_index, bar_of_closed[f.train])).astype(np.int64),
            test=closed[f.test],
            index=f.index,
            purged=f.purged,
            embargoed=f.embargoed,
        )
        for f in folds
    ]


def widen_bundle(bundle: bytes, served: tuple[str, ...], used: tuple[str, ...]) -> bytes:
    """``bundle`` (taking the columns ``used``) fed from the served vector ``served``: a
    ``Gather`` on the last axis picks the used columns, so serving builds the feature set's
    vector as for any model and the dropped inputs cannot move the output. The bundle's
    metadata records both lists (``features``, ``model_features``, ``dropped_features``)."""
    if served == used:
        return bundle
    model = onnx.load_from_string(bundle)
    graph = model.graph
    (original,) = graph.input
    taken = {n for node in graph.node for n in (*node.input, *node.output)}
    depth = sum(1 for name in taken if name.startswith(f"{original.name}_used"))
    inner, picked = f"{original.name}_used{depth}", f"{original.name}_columns{depth}"
    for node in graph.node:
        node.input[:] = [inner if name == original.name else name for name in node.input]
    wide = onnx.ValueInfoProto()
    wide.CopyFrom(original)  # same name, type and batch dimensions; only the width changes
    last = wide.type.tensor_type.shape.dim[-1]
    last.ClearField("dim_param")
    last.dim_value = len(served)
    rank = len(original.type.tensor_type.shape.dim)
    columns = np.array([served.index(name) for name in used], dtype=np.int64)
    graph.initializer.append(numpy_helper.from_array(columns, picked))
    graph.node.insert(
        0, helper.make_node("Gather", [original.name, picked], [inner], axis=rank - 1)
    )
    graph.input.pop()
    graph.input.append(wide)
    earlier = {entry.key: entry.value for entry in model.metadata_props}
    inner_used = earlier["model_features"].split(",") if "model_features" in earlier else used
    recorded = {
        "features": ",".join(served),
        "model_features": ",".join(inner_used),
        "dropped_features": ",".join(n for n in served if n not in inner_used),
    }
    kept = [(e.key, e.value) for e in model.metadata_props if e.key not in recorded]
    del model.metadata_props[:]
    for key, value in (*kept, *recorded.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model.SerializeToString()
