"""The work of ``chainflow backtest``, ``optimize`` and ``walkforward`` (options in
``chainflow.backtest.cli``).

Bars come from a file (``--data FILE``: an MT5 bar export as ``chainflow sample-data
--format mt5-bars`` writes, or an OHLCV CSV; no server needed) or from the bars stored for
a tenant (``--symbol S --timeframe TF --email USER``, read with ``bridge.api.read_bars`` on
a tool-mode kernel). ``--json`` prints one JSON object on stdout and nothing else there
(progress goes to stderr); otherwise Rich tables (both in ``command_output``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainflow.backtest.api import (
    STRATEGIES,
    check_bar_count,
    load_compiled,
    parse_params,
    run_backtest,
)
from chainflow.backtest.command_output import (
    command_errors,
    console,
    echo_json,
    print_backtest,
    print_optimization,
    print_walkforward,
    progress_reporter,
    source_of,
)
from chainflow.backtest.data import (
    MAX_STORED_BARS,
    bars_from_aggregated,
    load_file,
    parse_timeframe,
)
from chainflow.backtest.model_training import ML_STRATEGY, trainer_from_params
from chainflow.backtest.optimize import (
    Constraints,
    Evaluation,
    OptimizationResult,
    check_method,
    optimize,
)
from chainflow.backtest.search_space import build_space
from chainflow.backtest.types import BacktestConfig, BacktestResult
from chainflow.backtest.walkforward import walk_forward
from chainflow.bridge.api import options_of_flags, warn_on_stderr
from chainflow.core.errors import InvalidInput
from chainflow.core.market import BarSeries, parse_moment

if TYPE_CHECKING:
    from chainflow.bridge.stored_bars import StoredBarReader


def run_backtest_command(
    run_with_kernel: Any, options: Mapping[str, Any], stored_bars: StoredBarReader
) -> None:
    """Run ``chainflow backtest`` with its parsed options."""
    with command_errors():
        _check_extras(options)
        bars = _bars(stored_bars, options)
        config = config_of(options)
        if options["strategy"] not in (*STRATEGIES, ML_STRATEGY):
            raise InvalidInput(
                f"expected a strategy among {[*sorted(STRATEGIES), ML_STRATEGY]}; "
                f"received {options['strategy']!r}"
            )
        if options["strategy"] == ML_STRATEGY:
            result = _model_backtest(run_with_kernel, bars, config, options)
        else:
            params = parse_params(options["strategy"], raw_params(options["param"]))
            check_bar_count(options["strategy"], params, len(bars))
            load_compiled(options["strategy"], params, options["engine"])  # untimed
            result = run_backtest(
                bars, options["strategy"], params, config, engine=options["engine"]
            )
        if options["report"] is not None:
            from chainflow.backtest.report import backtest_report

            backtest_report(result, options["report"], bars=bars)
    if options["json_output"]:
        echo_json({**result.to_json(), **source_of(bars)})
        return
    print_backtest(result, bars)
    if options["report"] is not None:
        console().print(f"report written to {options['report']}", highlight=False)


def run_optimize_command(options: Mapping[str, Any], stored_bars: StoredBarReader) -> None:
    """Run ``chainflow optimize`` with its parsed options."""
    with command_errors():
        _check_extras(options)
        bars = _bars(stored_bars, options)
        evaluation, space = _search_inputs(bars, options)
        with progress_reporter(not options["json_output"], "optimizing") as report:
            result = optimize(
                evaluation,
                space,
                method=options["method"],
                trials=options["trials"],
                objective=options["objective"],
                constraints=_constraints(options),
                workers=options["workers"],
                seed=options["seed"],
                progress=report,
            )
        if options["report"] is not None:
            from chainflow.backtest.report import optimization_report

            best = _best_backtest(result, evaluation)
            optimization_report(result, options["report"], best=best)
    if options["json_output"]:
        echo_json({**result.to_json(top=options["top"]), **source_of(bars)})
        return
    print_optimization(result, options["top"])
    if options["report"] is not None:
        console().print(f"report written to {options['report']}", highlight=False)


def run_walkforward_command(options: Mapping[str, Any], stored_bars: StoredBarReader) -> None:
    """Run ``chainflow walkforward`` with its parsed options."""
    with command_errors():
        _check_extras(options)
        bars = _bars(stored_bars, options)
        evaluation, space = _search_inputs(bars, options, allow_empty=True)
        trainer = None
        if options["strategy"] == ML_STRATEGY:
            trainer = trainer_from_params(raw_params(options["param"]))
        with progress_reporter(not options["json_output"], "walk-forward") as report:
            result = walk_forward(
                bars,
                options["strategy"],
                space,
                in_sample=options["in_sample"],
                out_of_sample=options["out_of_sample"],
                step=options["step"],
                anchored=options["anchored"],
                method=options["method"],
                trials=options["trials"],
                objective=options["objective"],
                constraints=_constraints(options),
                config=evaluation.config,
                base_params=evaluation.base_params,
                engine=evaluation.engine,
                workers=options["workers"],
                seed=options["seed"],
                trainer=trainer,
                progress=report,
            )
        if options["report"] is not None:
            from chainflow.backtest.report import walkforward_report

            walkforward_report(result, options["report"])
    if options["json_output"]:
        echo_json({**result.to_json(), **source_of(bars)})
        return
    print_walkforward(result)
    if options["report"] is not None:
        console().print(f"report written to {options['report']}", highlight=False)


def config_of(options: Mapping[str, Any]) -> BacktestConfig:
    """Return the account configuration the options describe (``InvalidInput`` if bad)."""
    try:
        return BacktestConfig(
            cash=options["cash"],
            commission=options["commission"],
            commission_per_lot=options["commission_per_lot"],
            spread=options["spread"],
            slippage=options["slippage"],
            sizing=options["sizing"],
            size=options["size"],
            long_only=options["long_only"],
            leverage=options["leverage"],
            stop_loss=options["stop_loss"],
            take_profit=options["take_profit"],
        )
    except ValueError as e:
        raise InvalidInput(str(e)) from e


def raw_params(pairs: list[str] | None) -> dict[str, str]:
    """Return ``--param k=v`` options as a mapping (the strategy coerces the values)."""
    raw: dict[str, str] = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"expected --param name=value; received {pair!r}")
        raw[name.strip()] = value.strip()
    return raw


# --- inputs ----------------------------------------------------------------------------------


def _check_extras(options: Mapping[str, Any]) -> None:
    # --method bayes needs Optuna, --report Plotly (extras): refuse before the work.
    if options.get("method") is not None and (options.get("grid") or options.get("range_")):
        check_method(options["method"])
    if options["report"] is not None:
        from chainflow.backtest.report import check_reports

        check_reports()


def _bars(stored_bars: StoredBarReader, options: Mapping[str, Any]) -> BarSeries:
    start = parse_moment("--from", options["start"])
    end = parse_moment("--to", options["end"])
    if start is not None and end is not None and start >= end:
        raise InvalidInput(
            f"expected --from before --to; received --from {options['start']} and "
            f"--to {options['end']}"
        )
    if options["data"] is not None:
        flags = (options.get(k) for k in ("tz_offset_hours", "use_adj_close", "spread_unit"))
        offset_ms, choices = options_of_flags(*flags)
        return load_file(
            Path(options["data"]),
            symbol=options["symbol"],
            timeframe=options["timeframe"],
            start_ms=start,
            end_ms=end,
            tz_offset_ms=offset_ms,
            choices=choices,
            warn=warn_on_stderr,
        )
    if not (options["symbol"] and options["timeframe"] and options["email"]):
        raise InvalidInput(
            "expected --data FILE, or --symbol S --timeframe TF --email USER to use the bars "
            "stored for that user's tenant"
        )
    symbol = str(options["symbol"]).strip().upper()
    timeframe = parse_timeframe(options["timeframe"])

    rows = stored_bars(
        options["email"], symbol, timeframe, start_ms=start, end_ms=end, limit=MAX_STORED_BARS
    ).bars
    if not rows:
        raise InvalidInput(
            f"expected stored {symbol} {timeframe.value} bars in that range; received none "
            "(import some with chainflow import, or stream ticks)"
        )
    return bars_from_aggregated(rows, symbol, timeframe.value)


def _model_backtest(
    run_with_kernel: Any, bars: BarSeries, config: BacktestConfig, options: Mapping[str, Any]
) -> BacktestResult:
    from chainflow.backtest.model_source import (
        KERNEL_SERVICES,
        load_registered_model,
        training_overlap_note,
    )

    if options["param"]:
        raise InvalidInput(
            f"expected no --param for --strategy {ML_STRATEGY} (pick the model with --model); "
            f"received {options['param']}"
        )
    model = asyncio.run(
        run_with_kernel(KERNEL_SERVICES, lambda k: load_registered_model(k, options["model"]))
    )
    from chainflow.backtest.ml_diagnosis import no_trade_notes

    strategy = model.strategy()
    result = run_backtest(bars, strategy, {"model": model.ref}, config, engine=options["engine"])
    note = training_overlap_note(model, bars)
    result.notes = [*result.notes, *([note] if note else [])]
    if not result.trades:
        result.notes = [*no_trade_notes(model, strategy, bars), *result.notes]
    return result


def _search_inputs(
    bars: BarSeries, options: Mapping[str, Any], *, allow_empty: bool = False
) -> tuple[Evaluation, dict[str, Any]]:
    config = config_of(options)
    if options["strategy"] == ML_STRATEGY:  # trained per window; nothing to search
        if options["grid"] or options["range_"]:
            searched = [*(options["grid"] or []), *(options["range_"] or [])]
            raise InvalidInput(
                f"expected no --grid/--range with --strategy {ML_STRATEGY} (the model is "
                f"retrained per window); received {searched}"
            )
        return Evaluation(bars, options["strategy"], config, {}, "event"), {}
    base = parse_params(options["strategy"], raw_params(options["param"]))
    space: dict[str, Any] = {}
    if options["grid"] or options["range_"] or not allow_empty:
        try:
            space = build_space(options["grid"], options["range_"])
        except ValueError as e:
            raise InvalidInput(str(e)) from e
    return Evaluation(bars, options["strategy"], config, base, options["engine"]), space


def _constraints(options: Mapping[str, Any]) -> Constraints:
    return Constraints(min_trades=options["min_trades"], max_drawdown_pct=options["max_drawdown"])


def _best_backtest(result: OptimizationResult, evaluation: Evaluation) -> BacktestResult | None:
    if result.best is None:
        return None
    params = {**evaluation.base_params, **result.best.params}
    return run_backtest(
        evaluation.bars, evaluation.strategy, params, evaluation.config, engine=evaluation.engine
    )
