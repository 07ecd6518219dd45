"""The sanity check of a verdict: a model too good to be true is suspected of a leak.

Bar-horizon FX direction is close to a coin toss: honest models on real and sample
markets land within a few points of accuracy of their baselines, with rank ICs of a few
hundredths. A model whose out-of-sample accuracy beats the best baseline by more than
``MAX_ACCURACY_GAIN`` (15 points), or whose pooled rank IC with the forward return is above
``MAX_RANK_IC`` (0.3), almost surely sees the future: a feature computed from bars after its
row, a label shifted by one, rows shared between train and test. Such a verdict is
marked ``suspected_leak`` and does not pass, whatever its p-values, so the promotion gate
refuses the model; its sentence says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_ACCURACY_GAIN", "MAX_RANK_IC", "suspected_leak", "with_leak_check"]

MAX_ACCURACY_GAIN = 0.15
MAX_RANK_IC = 0.3


def suspected_leak(
    scores: Mapping[str, float],
    baselines: Mapping[str, Mapping[str, float]],
    quant: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The evidence of a suspected leak, or None when the scores are plausible."""
    best = max(float(b["accuracy"]) for b in baselines.values())
    gain = float(scores["accuracy"]) - best
    ic = quant.get("rank_ic", {}).get("pooled")
    ic = float(ic) if ic is not None and math.isfinite(ic) else 0.0
    if gain <= MAX_ACCURACY_GAIN and ic <= MAX_RANK_IC:
        return None
    return {
        "accuracy": float(scores["accuracy"]),
        "best_baseline_accuracy": best,
        "accuracy_gain": gain,
        "rank_ic": ic,
        "max_accuracy_gain": MAX_ACCURACY_GAIN,
        "max_rank_ic": MAX_RANK_IC,
    }


def with_leak_check(
    verdict: dict[str, Any],
    scores: Mapping[str, float],
    baselines: Mapping[str, Mapping[str, float]],
    quant: Mapping[str, Any],
) -> dict[str, Any]:
    """``verdict`` with ``suspected_leak`` set (None when plausible); a suspected leak
    fails it with a sentence saying so."""
    leak = suspected_leak(scores, baselines, quant)
    checked = {**verdict, "suspected_leak": leak}
    if leak is None:
        return checked
    checked["passed"] = False
    checked["sentence"] = (
        f"too good to be true: out-of-sample accuracy {leak['accuracy']:.3f} against "
        f"{leak['best_baseline_accuracy']:.3f} for the best baseline, rank IC "
        f"{leak['rank_ic']:.2f}: suspected leak (a feature that sees the future?), "
        "do not trade it"
    )
    return checked
