"""One training run: purged walk-forward evaluation, then the final model bundle.

``train_on_dataset`` evaluates a family honestly before fitting what is served: on each
purged walk-forward fold (``chainflow.ml.training.splits``) it fits on the past, predicts the test
block, and scores the model and two baselines (majority class; previous-bar direction) on
the concatenated out-of-sample rows. An ensemble of the available families learns its
weights for fold ``i`` only from the out-of-sample predictions of folds before ``i`` (equal
weights on the first), so its score is out-of-sample too. The volatility and momentum
regressors (LightGBM) are scored the same way against naive forecasts (past realized
volatility; no move), and a GARCH(1,1) volatility forecast against the same naive one.
The verdict (``chainflow.ml.training.verdict``) says whether the model beats each baseline, with a
block-bootstrap interval and p-value. Then every part is fitted on all rows, exported to
ONNX and combined into one bundle, whose outputs are checked against the native models on
the last rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainflow.core.errors import InvalidInput
from chainflow.ml.errors import ModelExportMismatchError
from chainflow.ml.training import ensemble
from chainflow.ml.training.bundle import combine_models
from chainflow.ml.training.calibration import METADATA_KEY as CALIBRATION_KEY
from chainflow.ml.training.calibration import METHODS, Calibrator, reliability
from chainflow.ml.training.datasets import Dataset
from chainflow.ml.training.families import (
    FAMILIES,
    GBM_FAMILIES,
    SEQUENCE_FAMILIES,
    Family,
    family,
    torch_available,
)
from chainflow.ml.training.fold_fit import FittedMembers, fit_members, member_permutation
from chainflow.ml.training.importance import summarize_importance, tree_shap
from chainflow.ml.training.leak_check import with_leak_check
from chainflow.ml.training.metrics import (
    classification_metrics,
    majority_baseline,
    previous_direction_baseline,
    regression_skill,
)
from chainflow.ml.training.quant_metrics import quant_report
from chainflow.ml.training.run_parts import (
    feature_stats,
    final_regressor,
    fold_report,
    garch_report,
    pick_metrics,
    regress,
    rows_with_windows,
    run_verdict,
    walk_forward_folds,
    widen_bundle,
)
from chainflow.ml.training.serving import ModelBundle

Progress = Callable[[str, int, int], None]  # (stage, done, total)
PARITY_TOLERANCE = 1e-4


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    family: str = "lightgbm"
    n_folds: int = 5
    min_train_fraction: float = 0.4
    embargo: int | float = 0
    seed: int = 0
    threads: int = 2
    max_seconds_per_fit: float | None = None  # sequence models: stop an epoch loop early
    resamples: int = 2000  # block-bootstrap resamples of the verdict
    calibrate: str | None = None  # "isotonic" or "temperature", fitted on an inner split
    importance: bool = True  # permutation importance on the OOS rows (and TreeSHAP)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise InvalidInput(
                f"expected a model family among {', '.join(FAMILIES)}; received {self.family!r}"
            )
        if self.calibrate is not None and self.calibrate not in METHODS:
            raise InvalidInput(
                f"expected --calibrate among {', '.join(METHODS)}; received {self.calibrate!r}"
            )


@dataclass(frozen=True, slots=True)
class OosPredictions:
    """The out-of-sample rows (their source bar indices, time order), their predictions
    and the size of each fold's block: what the signal backtest trades."""

    bar_index: NDArray[np.int64]
    probabilities: NDArray[np.float64]
    volatility: NDArray[np.float64]
    momentum: NDArray[np.float64]
    fold_sizes: tuple[int, ...]


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
    verdict: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    quant: dict[str, Any] = field(default_factory=dict)  # rank IC, hit rate by confidence
    calibration: dict[str, Any] = field(default_factory=dict)  # reliability, ECE, method
    importance: dict[str, Any] = field(default_factory=dict)
    backtest: dict[str, Any] = field(default_factory=dict)  # set by the caller (bars needed)
    seeds: dict[str, Any] = field(default_factory=dict)  # --seeds N: spread of every metric
    predictions: OosPredictions | None = field(default=None, repr=False)
    seconds: float = 0.0

    def metrics(self) -> dict[str, Any]:
        """Everything but the artifact and the raw predictions, as the registry stores it."""
        return {
            "oos": self.oos,
            "baselines": self.baselines,
            "folds": self.folds,
            "volatility": self.volatility,
            "momentum": self.momentum,
            "verdict": self.verdict,
            "evaluation": self.evaluation,
            "quant": self.quant,
            "calibration": self.calibration,
            "importance": self.importance,
            "backtest": self.backtest,
            "seeds": self.seeds,
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
    ds, windows = rows_with_windows(dataset, window)
    folds = walk_forward_folds(ds, config)  # cut on closed rows; snapshots train only
    inputs = {f.name: (windows if f.window > 1 else ds.X) for f in fams}
    oos_rows: list[NDArray[np.int64]] = []
    member_oos: list[list[NDArray[np.float64]]] = [[] for _ in fams]
    model_oos, majority_oos, previous_oos, vol_oos, mom_oos = [], [], [], [], []
    fold_reports: list[dict[str, Any]] = []
    permutation, shap = [], []
    steps = len(folds) * (len(fams) + 1) + len(fams) + 2
    done = 0
    for fold in folds:
        weights = _weights_before(member_oos, ds.y, oos_rows, len(fams))
        fitted = fit_members(fams, inputs, ds, fold.train, weights, config)
        probas = [
            fam.predict(m, inputs[fam.name][fold.test])
            for fam, m in zip(fams, fitted.models, strict=True)
        ]
        for index, member in enumerate(probas):
            member_oos[index].append(member)
        done += len(fams)
        report(f"fold {fold.index + 1}/{len(folds)}: {config.family}", done, steps)
        proba = fitted.combine(probas)
        model_oos.append(proba)
        if config.importance:
            test_inputs = {f.name: inputs[f.name][fold.test] for f in fams}
            permutation.append(_permutation(fams, fitted, test_inputs, ds.y[fold.test], config))
            values = tree_shap(fitted.models[0], ds.X[fold.test]) if len(fams) == 1 else None
            if values is not None:
                shap.append(values)
        majority_oos.append(majority_baseline(ds.y[fold.train], len(fold.test)))
        previous_oos.append(
            previous_direction_baseline(
                ds.previous_direction[fold.test],
                ds.y[fold.train],
                ds.previous_direction[fold.train],
            )
        )
        vol_oos.append(regress(ds.X, ds.forward_volatility, fold, config))
        mom_oos.append(regress(ds.X, ds.forward_momentum, fold, config))
        oos_rows.append(fold.test)
        fold_reports.append(fold_report(ds, fold, proba))
        done += 1
        report(f"fold {fold.index + 1}/{len(folds)}: regressors", done, steps)
    test_rows = np.concatenate(oos_rows)
    y_test = ds.y[test_rows]
    oos = {
        "model": np.concatenate(model_oos),
        "majority": np.concatenate(majority_oos),
        "previous_direction": np.concatenate(previous_oos),
        "volatility": np.concatenate(vol_oos),
        "momentum": np.concatenate(mom_oos),
    }
    final_weights = _weights_before(member_oos, ds.y, oos_rows, len(fams), upto=len(folds))
    classifier, native, calibrator = _final_classifier(
        fams, inputs, ds, final_weights, window, config
    )
    done += len(fams)
    report("final model", done, steps)
    metadata = {
        "feature_set": ds.feature_set,
        "fingerprint": ds.fingerprint,
        "family": config.family,
        "members": ",".join(f.name for f in fams),
        "label_horizon": str(ds.label_spec.horizon),
        "window": str(window),
    }
    if calibrator is not None:
        metadata[CALIBRATION_KEY] = calibrator.to_json()
    bundle = combine_models(
        {
            "probabilities": (classifier, "probabilities"),
            "volatility": (final_regressor(ds.X, ds.forward_volatility, config), "prediction"),
            "momentum": (final_regressor(ds.X, ds.forward_momentum, config), "prediction"),
        },
        window=window if window > 1 else None,
        metadata=metadata,
    )
    parity = _parity(bundle, inputs[fams[-1].name] if window > 1 else ds.X, native)
    bundle = widen_bundle(bundle, ds.served_names, ds.feature_names)  # dropped dead inputs
    done += 2
    report("exported", done, steps)
    scores = pick_metrics(classification_metrics(y_test, oos["model"]))
    baselines = {
        "majority": pick_metrics(classification_metrics(y_test, oos["majority"])),
        "previous_direction": pick_metrics(
            classification_metrics(y_test, oos["previous_direction"])
        ),
    }
    quant = quant_report(
        y_test, oos["model"], ds.forward_momentum[test_rows], [len(f.test) for f in folds]
    )
    verdict = with_leak_check(
        run_verdict(ds, test_rows, oos, config).to_dict(), scores, baselines, quant
    )
    return TrainingResult(
        family=config.family,
        members=tuple(f.name for f in fams),
        weights=tuple(float(w) for w in final_weights),
        window=window,
        dataset=ds.describe(),
        folds=fold_reports,
        oos=scores,
        baselines=baselines,
        volatility={
            **regression_skill(
                ds.forward_volatility[test_rows], oos["volatility"], ds.past_volatility[test_rows]
            ),
            "garch": garch_report(ds),
        },
        momentum=regression_skill(
            ds.forward_momentum[test_rows], oos["momentum"], np.zeros(len(test_rows))
        ),
        verdict=verdict,
        quant=quant,
        calibration={
            "method": config.calibrate,
            **reliability(y_test, oos["model"]),
            **({"fitted": calibrator.to_dict()} if calibrator is not None else {}),
        },
        importance=summarize_importance(ds.feature_names, permutation, shap) if permutation else {},
        evaluation={
            "folds": len(folds),
            "min_train_fraction": config.min_train_fraction,
            "embargo": config.embargo,
            "embargoed_rows": [f.embargoed for f in folds],
            "purged_rows": [f.purged for f in folds],
            "oos_rows": int(len(test_rows)),
            "seed": config.seed,
            "calibrate": config.calibrate,
        },
        feature_stats=feature_stats(ds),
        parity_max_abs_diff=parity,
        onnx=bundle,
        predictions=OosPredictions(
            bar_index=ds.bar_index[test_rows],
            probabilities=oos["model"],
            volatility=oos["volatility"],
            momentum=oos["momentum"],
            fold_sizes=tuple(len(f.test) for f in folds),
        ),
        seconds=round(time.perf_counter() - started, 3),
    )


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


def _final_classifier(
    fams: Sequence[Family],
    inputs: dict[str, NDArray[np.float64]],
    ds: Dataset,
    weights: NDArray[np.float64],
    window: int,
    config: TrainingConfig,
) -> tuple[bytes, NDArray[np.float64], Calibrator | None]:
    """Fit every member on all rows (less the calibration split); return the classifier's
    ONNX, its native (calibrated) output on the last rows for the parity check, and the
    calibrator the bundle applies after ONNX."""
    tail = slice(-min(256, len(ds.y)), None)
    fitted = fit_members(fams, inputs, ds, np.arange(len(ds.y)), weights, config)
    exported = [
        (f.export(m, ds.X.shape[1]), "probabilities")
        for f, m in zip(fams, fitted.models, strict=True)
    ]
    native = fitted.predict(fams, {f.name: inputs[f.name][tail] for f in fams})
    if len(fams) == 1:
        return exported[0][0], native, fitted.calibrator
    onnx_bytes = ensemble.ensemble_to_onnx(
        exported, weights, window=window, n_features=ds.X.shape[1]
    )
    return onnx_bytes, native, fitted.calibrator


def _permutation(
    fams: Sequence[Family],
    fitted: FittedMembers,
    test_inputs: dict[str, NDArray[np.float64]],
    y: NDArray[np.int64],
    config: TrainingConfig,
) -> NDArray[np.float64]:
    return member_permutation(fams, fitted, test_inputs, y, config.seed)


def _parity(bundle: bytes, inputs: NDArray[np.float64], native: NDArray[np.float64]) -> float:
    served = ModelBundle(bundle).predict(inputs[-len(native) :]).probabilities
    diff = float(np.max(np.abs(served - native)))
    if diff > PARITY_TOLERANCE:
        raise ModelExportMismatchError(
            f"expected the ONNX bundle to match the trained model within {PARITY_TOLERANCE}; "
            f"received a max difference of {diff}"
        )
    return diff
