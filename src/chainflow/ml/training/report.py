"""What ``chainflow train`` prints: the report of a run, as Rich tables or one JSON object.

The report shows the out-of-sample scores of the model and its baselines, the folds, the
regressors against their naive forecasts, and the verdict (``chainflow.ml.training.verdict``): for
each target and baseline the improvement on the primary metric, its 95% block-bootstrap
interval and one-sided p-value, then the plain sentence; and the quant lines
(``chainflow.ml.training.quant_metrics``): rank IC and ICIR, hit rate by confidence decile; the
calibration (reliability bins, ECE), the top features (permutation importance, TreeSHAP),
the cost-aware signal backtest of the out-of-sample predictions and, with ``--seeds``, the
spread of the main numbers over the seeds (``chainflow.ml.training.seeds``). The last
line says what became of the version: registered as a candidate, promoted, promoted by
force, or refused by the promotion gate (``chainflow.ml.registry.promotion_gate``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chainflow.ml.registry.types import ModelVersion
from chainflow.ml.training.run import TrainingResult
from chainflow.ml.training.run_parts import METRIC_KEYS
from chainflow.ml.training.steps import json_safe

__all__ = ["PromotionOutcome", "print_report", "summary"]

TOP_FEATURES = 5
SEED_SECTIONS = ("oos", "quant", "calibration", "backtest", "verdict")


@dataclass(frozen=True, slots=True)
class PromotionOutcome:
    """What ``--promote`` did: nothing asked, promoted (maybe forced), or refused."""

    requested: bool = False
    refused: str | None = None  # the gate's message
    override: dict[str, Any] | None = None  # a forced promotion, as stored

    def to_dict(self, version: ModelVersion) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "promoted": self.requested and self.refused is None,
            "refused": self.refused,
            "override": self.override,
            "stage": version.stage.value,
        }


def summary(
    version: ModelVersion, result: TrainingResult, artifact: str, promotion: PromotionOutcome
) -> dict[str, Any]:
    """The JSON report (non-finite numbers as null)."""
    return json_safe(
        {
            "model": version.ref,
            "stage": version.stage.value,
            "family": result.family,
            "members": list(result.members),
            "oos": result.oos,
            "baselines": result.baselines,
            "folds": len(result.folds),
            "fold_scores": result.folds,
            "volatility": result.volatility,
            "momentum": result.momentum,
            "verdict": result.verdict,
            "evaluation": result.evaluation,
            "quant": result.quant,
            "calibration": result.calibration,
            "importance": result.importance,
            "backtest": result.backtest,
            "seeds": result.seeds,
            "promotion": promotion.to_dict(version),
            "rows": result.dataset["rows"],
            "train_from_ts": version.train_from_ts,
            "train_to_ts": version.train_to_ts,
            "artifact": artifact,
            "sha256": version.artifact_sha256,
            "seconds": result.seconds,
        }
    )


def print_report(
    version: ModelVersion, result: TrainingResult, artifact: str, promotion: PromotionOutcome
) -> None:
    """The tables, the verdict and what became of the version."""
    console = Console(soft_wrap=True)
    console.print(_scores(result))
    console.print(_folds(result))
    console.print(_regressors(result))
    if result.quant:
        console.print(_quant_lines(result.quant), highlight=False)
    console.print(_extra_lines(result), highlight=False)
    if result.seeds:
        console.print(_seeds_table(result.seeds))
    if result.verdict:
        console.print(_verdict_table(result.verdict))
        console.print(f"verdict: [bold]{escape(result.verdict['sentence'])}[/]", highlight=False)
    stage = version.stage.value
    if promotion.override is not None:
        stage += f", forced past the gate: {promotion.override['reason']}"
    elif promotion.refused is not None:
        stage += ", not promoted"
    console.print(
        f"registered [bold]{version.ref}[/] ({escape(stage)}) in {result.seconds:.1f} s: "
        f"{artifact}",
        highlight=False,
    )


def _scores(result: TrainingResult) -> Table:
    rows = result.dataset["rows"]
    table = Table(title=f"Out-of-sample over {len(result.folds)} folds ({rows} rows)")
    table.add_column("")
    for key in METRIC_KEYS:
        table.add_column(key.replace("_", " "), justify="right")
    table.add_row(f"[bold]{result.family}[/]", *[_number(result.oos[k]) for k in METRIC_KEYS])
    for baseline, values in result.baselines.items():
        cells = [_number(values[k]) for k in METRIC_KEYS]
        table.add_row(f"baseline: {baseline.replace('_', ' ')}", *cells)
    return table


def _folds(result: TrainingResult) -> Table:
    table = Table(title="Folds")
    for column in ("fold", "train rows", "test rows", "test from", "test to", "accuracy"):
        table.add_column(column, justify="right")
    table.add_column("log loss", justify="right")
    for f in result.folds:
        table.add_row(
            str(f["fold"]),
            str(f["train_rows"]),
            str(f["test_rows"]),
            _time(f["test_from_ts"]),
            _time(f["test_to_ts"]),
            _number(f["accuracy"]),
            _number(f["log_loss"]),
        )
    return table


def _regressors(result: TrainingResult) -> Table:
    table = Table(title="Regressors against naive forecasts (skill = 1 - MSE / naive MSE)")
    for column in ("target", "rmse", "naive rmse", "skill"):
        table.add_column(column, justify="right")
    for target, values in (("volatility", result.volatility), ("momentum", result.momentum)):
        table.add_row(
            target,
            _number(values["rmse"]),
            _number(values["baseline_rmse"]),
            _number(values["skill"]),
        )
    garch = result.volatility.get("garch")
    if garch:
        table.add_row(
            "volatility (GARCH 1,1)",
            _number(garch["rmse"]),
            _number(garch["naive_rmse"]),
            _number(1.0 - (garch["rmse"] / garch["naive_rmse"]) ** 2),
        )
    return table


def _verdict_table(verdict: dict[str, Any]) -> Table:
    title = (
        f"Verdict: model against each baseline ({verdict['method']}, blocks of "
        f"{verdict['block']} rows, {verdict['resamples']} resamples; improvement > 0: better)"
    )
    table = Table(title=title)
    for column in ("target", "metric", "baseline", "model", "baseline value", "improvement"):
        table.add_column(column, justify="right")
    for column in ("95% interval", "p", "beats"):
        table.add_column(column, justify="right")
    for target, values in verdict["targets"].items():
        metric = "log loss" if values["metric"] == "log_loss" else "skill (rmse)"
        for c in values["comparisons"]:
            table.add_row(
                target,
                metric,
                c["baseline"].replace("_", " "),
                _number(c["model"]),
                _number(c["baseline_value"]),
                f"{c['improvement']:+.4g}",
                f"[{_number(c['low'])}, {_number(c['high'])}]",
                _number(c["p_value"]),
                "yes" if c["beats"] else "no",
            )
    return table


def _quant_lines(quant: dict[str, Any]) -> str:
    ic = quant["rank_ic"]
    folds = ", ".join(_number(v) for v in ic["folds"])
    hits = " ".join(f"{row['hit_rate']:.0%}" for row in quant["hit_rate_by_confidence"])
    return (
        f"rank IC of the edge (p_up - p_down) with the forward return: {_number(ic['pooled'])} "
        f"pooled; per fold {folds}; ICIR {_number(ic['icir'])}\n"
        f"hit rate by confidence decile, lowest first: {hits}"
    )


def _extra_lines(result: TrainingResult) -> str:
    lines = []
    calibration = result.calibration
    if calibration:
        method = calibration.get("method") or "none"
        bins = " ".join(
            f"{b['confidence']:.2f}->{b['hit_rate']:.2f}({b['rows']})" for b in calibration["bins"]
        )
        lines.append(
            f"calibration ({escape(method)}): ECE {_number(calibration['ece'])}; "
            f"confidence->hit rate(rows): {bins}"
        )
    if result.importance:
        shap = result.importance.get("tree_shap")
        top = ", ".join(result.importance["top"][:TOP_FEATURES])
        line = f"top features (permutation, OOS log-loss): {top}"
        if shap:
            line += "; TreeSHAP: " + ", ".join(s["feature"] for s in shap[:TOP_FEATURES])
        lines.append(line)
    backtest = result.backtest
    if backtest.get("skipped"):
        lines.append(f"signal backtest: skipped ({escape(backtest['skipped'])})")
    elif backtest:
        costs = backtest["costs"]
        lines.append(
            f"signal backtest of the OOS predictions ({len(backtest['windows'])} windows, "
            f"spread {costs['mean_spread']:.6g} + commission "
            f"{costs['commission_per_side']:.4%}/side): return {backtest['return']:+.2%}, "
            f"Sharpe {_number(backtest['sharpe'])}, max drawdown "
            f"{backtest['max_drawdown']:.2%}, {backtest['trades']} trades"
            + (f" ({escape(backtest['warning'])})" if backtest.get("warning") else "")
        )
    return "\n".join(lines)


def _seeds_table(seeds: dict[str, Any]) -> Table:
    title = (
        f"Over {len(seeds['seeds'])} seeds {seeds['seeds']} (verdict: {seeds['verdict_rule']}; "
        f"passed: {sum(seeds['passed'])} of {len(seeds['passed'])})"
    )
    table = Table(title=title)
    for column in ("metric", "mean", "std", "min", "max"):
        table.add_column(column, justify="right")
    for key, values in seeds["metrics"].items():
        if key.split(".")[0] in SEED_SECTIONS:
            cells = [_number(values[k]) for k in ("mean", "std", "min", "max")]
            table.add_row(key, *cells)
    return table


def _number(value: float | None) -> str:
    return f"{value:.4g}" if value is not None and math.isfinite(value) else "-"


def _time(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M")
