"""``chainflow train``: the command's options; the work is in ``chainflow.ml.training.command``,
imported when the command runs (training pulls in scikit-learn, XGBoost, LightGBM and ONNX,
which every other ``chainflow`` command should not pay for at start-up)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from chainflow.bridge.stored_bars import StoredBarReader
    from chainflow.ml.training.command import KernelRunner
    from chainflow.ml.training.oos_backtest import SignalBacktester


def make_train_command(
    run_with_kernel: KernelRunner[Any],
    stored_bars: StoredBarReader,
    backtester: SignalBacktester | None = None,
) -> Callable[..., None]:
    """Return the ``chainflow train`` command: it registers models on kernels from
    ``run_with_kernel``, reads a tenant's stored bars (``--email``) with ``stored_bars`` and
    trades the out-of-sample predictions with ``backtester`` (none: the report says so)."""

    def train_command(
        symbol: Annotated[str, typer.Option(help="symbol of the bars, e.g. EURUSD")],
        timeframe: Annotated[
            str, typer.Option(help="timeframe of the bars: M1, M5, M15, M30, H1, H4 or D1")
        ],
        model: Annotated[
            str, typer.Option(help="model family: lightgbm, xgboost, ensemble, lstm or cnn")
        ] = "lightgbm",
        data: Annotated[
            Path | None, typer.Option(help="MT5 bar export or OHLCV CSV to train on")
        ] = None,
        email: Annotated[
            str | None, typer.Option(help="train on the bars stored for this user's tenant")
        ] = None,
        start: Annotated[
            str | None, typer.Option("--from", help="first bar open time, ISO or epoch ms")
        ] = None,
        end: Annotated[
            str | None, typer.Option("--to", help="bars opened before this, ISO or epoch ms")
        ] = None,
        spread: Annotated[
            float | None, typer.Option(help="spread (price) for bars without one, e.g. CSV")
        ] = None,
        horizon: Annotated[int, typer.Option(help="label horizon in bars")] = 12,
        threshold_atr: Annotated[float, typer.Option(help="label band in ATR units")] = 0.5,
        label: Annotated[str, typer.Option(help="direction or triple_barrier")] = "direction",
        folds: Annotated[int, typer.Option(help="purged walk-forward folds")] = 5,
        embargo: Annotated[
            int,
            typer.Option(help="rows dropped before each test block, beyond the purge"),
        ] = 0,
        seed: Annotated[int, typer.Option(help="random seed")] = 0,
        seeds: Annotated[
            int,
            typer.Option(help="train with this many seeds (from --seed) and report the spread"),
        ] = 1,
        calibrate: Annotated[
            str | None,
            typer.Option(help="calibrate probabilities on an inner split: isotonic, temperature"),
        ] = None,
        threads: Annotated[int, typer.Option(help="threads per fit")] = 2,
        name: Annotated[str | None, typer.Option(help="registry name (default fx-<model>)")] = None,
        promote: Annotated[
            bool,
            typer.Option(help="promote the new version if its verdict beats the baselines"),
        ] = False,
        force: Annotated[
            bool,
            typer.Option(help="--promote although the verdict does not beat the baselines"),
        ] = False,
        reason: Annotated[
            str | None, typer.Option(help="why, with --force (stored with the version)")
        ] = None,
        custom: Annotated[
            bool,
            typer.Option(
                help="register as the --email user's tenant's own model (Enterprise custom "
                "models; the tier's custom-model limit applies)"
            ),
        ] = False,
        json_output: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
        tz_offset_hours: Annotated[
            float,
            typer.Option(
                help="--data: UTC offset of times without one (MT5 server time), -14..+14"
            ),
        ] = 0.0,
        use_adj_close: Annotated[
            bool,
            typer.Option(
                "--use-adj-close", help="--data CSV: Adj Close as the close, open/high/low scaled"
            ),
        ] = False,
        spread_unit: Annotated[
            str | None,
            typer.Option(
                help="--data: unit of a Spread column the header does not state: points, price"
            ),
        ] = None,
        forming_snapshots: Annotated[
            str | None,
            typer.Option(
                help="also train on each bar as it was after these fractions of its M1 "
                "sub-bars, e.g. 0.25,0.5,0.75 (0: first sub-bar), as the per-tick path sees it"
            ),
        ] = None,
        forming_data: Annotated[
            Path | None,
            typer.Option(help="M1 bars for --forming-snapshots (default: the stored M1 bars)"),
        ] = None,
    ) -> None:
        """Train a model on bars, compare it with two baselines and register it (candidate).

        The report ends with the verdict: whether the model beats each baseline, with a
        block-bootstrap interval and p-value. --promote refuses a model whose verdict does
        not beat its baselines (exit 1) unless --force --reason TEXT."""
        from chainflow.ml.training.command import run_train

        run_train(
            run_with_kernel,
            stored_bars,
            symbol=symbol,
            timeframe=timeframe,
            model=model,
            data=data,
            email=email,
            start=start,
            end=end,
            spread=spread,
            horizon=horizon,
            threshold_atr=threshold_atr,
            label=label,
            folds=folds,
            seed=seed,
            threads=threads,
            name=name,
            promote=promote,
            custom=custom,
            json_output=json_output,
            tz_offset_hours=tz_offset_hours,
            use_adj_close=use_adj_close,
            spread_unit=spread_unit,
            embargo=embargo,
            force=force,
            reason=reason,
            seeds=seeds,
            calibrate=calibrate,
            backtester=backtester,
            forming_snapshots=forming_snapshots,
            forming_data=forming_data,
        )

    return train_command
