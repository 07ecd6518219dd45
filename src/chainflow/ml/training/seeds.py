"""``chainflow train --seeds N``: the same run with N seeds, and how much the seed matters.

The run is repeated with seeds ``seed, seed + 1, .., seed + N - 1`` (the folds, the data and
the baselines are the same; the models' random choices differ). ``seed_summary`` reports,
for every number the report shows (out-of-sample scores, rank IC and ICIR, the calibration
error, the signal backtest, the regressors' skill, each verdict comparison's improvement
and p-value), its mean, standard deviation (ddof 1), minimum and maximum over the seeds.

The version registered is the model of the first seed (``--seed``). Its verdict is the
*worst seed's*: the run passes only if every seed passes, and otherwise carries the verdict
of the first seed that fails (when all pass, of the one with the largest p-value). Pooling
the seeds' predictions would judge a seed ensemble, which is not the model registered; the
worst seed says whether the result survives the one choice a trainer should not get to
make after seeing the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from chainflow.ml.training.run import TrainingResult

__all__ = ["combine_seeds", "seed_summary", "worst_seed_verdict"]

SECTIONS = ("oos", "volatility", "momentum", "backtest")
SKIPPED = ("garch", "windows", "costs", "bars", "strategy", "skipped")


def combine_seeds(results: Sequence[TrainingResult]) -> TrainingResult:
    """The first seed's result with the worst-seed verdict and the seeds' summary."""
    first = results[0]
    if len(results) == 1:
        return first
    summary, verdict = seed_summary(results), worst_seed_verdict(results)
    first.seeds, first.verdict = summary, verdict  # the summary reads each seed's own verdict
    return first


def seed_summary(results: Sequence[TrainingResult]) -> dict[str, Any]:
    """Mean, std, min and max over the seeds of every reported number."""
    flat = [_numbers(r) for r in results]
    keys = [k for k in flat[0] if all(k in f for f in flat)]
    metrics = {}
    for key in keys:
        values = np.array([f[key] for f in flat], dtype=np.float64)
        finite = values[np.isfinite(values)]
        metrics[key] = {
            "mean": float(finite.mean()) if finite.size else None,
            "std": float(finite.std(ddof=1)) if finite.size > 1 else None,
            "min": float(finite.min()) if finite.size else None,
            "max": float(finite.max()) if finite.size else None,
        }
    return {
        "seeds": [int(r.evaluation.get("seed", 0)) for r in results],
        "passed": [bool(r.verdict.get("passed")) for r in results],
        "verdict_rule": "worst seed",
        "metrics": metrics,
    }


def worst_seed_verdict(results: Sequence[TrainingResult]) -> dict[str, Any]:
    """The verdict of the first failing seed, else of the passing one with the largest
    p-value, its sentence saying so."""
    failing = [r for r in results if not r.verdict.get("passed")]
    worst = failing[0] if failing else max(results, key=_worst_p)
    seed = int(worst.evaluation.get("seed", 0))
    passing = len(results) - len(failing)
    verdict = dict(worst.verdict)
    verdict["sentence"] = (
        f"{verdict['sentence']} [worst of {len(results)} seeds: seed {seed}; "
        f"{passing} of {len(results)} pass]"
    )
    verdict["seed_rule"] = {"rule": "worst seed", "worst_seed": seed, "passing": passing}
    return verdict


def _worst_p(result: TrainingResult) -> float:
    direction = result.verdict.get("targets", {}).get("direction", {})
    return max((c["p_value"] for c in direction.get("comparisons", [])), default=1.0)


def _numbers(result: TrainingResult) -> dict[str, float]:
    found: dict[str, float] = {}
    for section in SECTIONS:
        _walk(getattr(result, section), section, found)
    ic = result.quant.get("rank_ic", {})
    for key in ("pooled", "mean", "icir"):
        if key in ic:
            found[f"quant.rank_ic.{key}"] = _float(ic[key])
    if "ece" in result.calibration:
        found["calibration.ece"] = _float(result.calibration["ece"])
    for target, values in result.verdict.get("targets", {}).items():
        for c in values.get("comparisons", []):
            for key in ("improvement", "p_value"):
                found[f"verdict.{target}.{c['baseline']}.{key}"] = _float(c[key])
    return found


def _walk(value: Any, prefix: str, found: dict[str, float]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key not in SKIPPED:
                _walk(inner, f"{prefix}.{key}", found)
    elif isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool):
        found[prefix] = _float(value)


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)
