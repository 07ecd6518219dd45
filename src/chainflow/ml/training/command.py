"""The work of ``chainflow train``: fit a model family on bars, report it against baselines,
register it. (``chainflow.ml.cli.train`` declares the options and imports this module only
when the command runs, so that other commands start fast.)

Bars come from a file (``--data FILE``: an MT5 bar export or an OHLCV CSV; no server
needed) or from the bars stored for a tenant (``--email USER``: that user's tenant, read
with ``bridge.api.read_bars``). Without ``--data`` the tenant must be named: a platform
model is trained on a tenant's stored bars only when an operator says whose, so no
command reads some tenant's data by default. Either way the result is a *platform* model
(every tenant may use it), registered as the next ``candidate`` version of ``--name``
(default ``fx-<model>``) in the kernel's database, with its metrics, the feature-set key
and fingerprint, the label spec, the symbol, the timeframe and the train range; the
artifact goes under ``CHAINFLOW_HOME/models``. ``--promote`` makes it production if the
promotion gate lets it (``chainflow.ml.registry.promotion_gate``: the verdict beats the baselines),
or ``--force --reason TEXT`` overrides the gate; a refused promotion keeps the candidate,
prints the report and exits 1 with the gate's one line. ``--embargo N`` drops the N rows
before each test block from its training rows (on top of the purge).

``--seeds N`` trains with N seeds and reports each number's spread over them
(``chainflow.ml.training.seeds``: the first seed's model is registered, with the worst seed's
verdict). ``--calibrate isotonic|temperature`` calibrates the probabilities on an inner
validation split (``chainflow.ml.training.fold_fit``). The out-of-sample predictions are traded by
the ``backtester`` the command was built with (``chainflow.ml.training.oos_backtest``: the
backtest engine's ML strategy, spread and commission included).

The file is read by the bridge's one bar-file reader (``bridge.api.read_bar_file``, as
``import`` and ``backtest`` read it): pandas/yfinance CSVs, ISO or epoch times, ``Adj
Close`` with ``--use-adj-close``, a ``Spread`` column in points or price (``--spread-unit``).

Features are ``fx-core@1``, which includes the relative spread. An OHLCV CSV without a
spread column carries no spread: its spread feature is dropped from the model's inputs
(the bundle takes the full vector and ignores it), or ``--spread PRICE`` sets one in price
units (e.g. ``0.00012`` for EURUSD); bars that do carry one keep theirs.

``--forming-snapshots 0.25,0.5,0.75`` also trains on each bar as it was part-way through
(``chainflow.ml.training.forming_snapshots``) from ``--forming-data`` M1 bars or stored M1 bars.

The steps shared with ``chainflow.ml.training.default_model`` live in
``chainflow.ml.training.steps``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chainflow.bridge.api import (
    AggregatedBar,
    ColumnChoices,
    options_of_flags,
    read_bar_file,
    warn_on_stderr,
)
from chainflow.core.clock import Clock
from chainflow.core.errors import ChainflowError, InvalidInput
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe, parse_moment
from chainflow.core.settings import Settings
from chainflow.core.tenancy import TenantContext
from chainflow.ml.errors import ModelPromotionRefusedError
from chainflow.ml.registry.artifacts import LocalArtifactStore
from chainflow.ml.registry.model_registry import ModelRegistry, model_registry
from chainflow.ml.registry.promotion_gate import operator_name
from chainflow.ml.registry.types import ModelRegistration, ModelVersion
from chainflow.ml.training.datasets import Dataset
from chainflow.ml.training.families import family
from chainflow.ml.training.forming_snapshots import (
    SubBars,
    snapshot_fractions,
    with_forming_snapshots,
)
from chainflow.ml.training.labels import LabelSpec
from chainflow.ml.training.oos_backtest import SignalBacktester, attach_backtest
from chainflow.ml.training.report import PromotionOutcome, print_report, summary
from chainflow.ml.training.run import TrainingConfig, TrainingResult, train_on_dataset
from chainflow.ml.training.seeds import combine_seeds
from chainflow.ml.training.steps import (
    MAX_STORED_BARS,
    has_spread,
    register_trained,
    registration_for,
    training_bars,
    training_dataset,
)
from chainflow.storage.relational import Database

if TYPE_CHECKING:
    from chainflow.bridge.stored_bars import StoredBarReader
    from chainflow.users.api import UsersAdminApi


class TrainingInfra(Protocol):
    """The infrastructure registering a model uses: the relational database."""

    @property
    def database(self) -> Database: ...


class TrainingKernel(Protocol):
    """What registering a trained model uses of the tool-mode kernel ``run_with_kernel``
    starts (services ``hub,storage,users``): settings, clock, database and, for a tenant's
    own model, the users service's tenant lookups."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def infra(self) -> TrainingInfra: ...

    @property
    def users(self) -> UsersAdminApi | None: ...


T = TypeVar("T")
KernelRunner = Callable[[str, Callable[[TrainingKernel], Awaitable[T]]], Coroutine[Any, Any, T]]
"""Runs ``action(kernel)`` on a started tool-mode kernel with the named services."""


def run_train(
    run_with_kernel: KernelRunner[Any],
    stored_bars: StoredBarReader,
    *,
    symbol: Any,
    timeframe: Any,
    model: Any,
    data: Any,
    email: Any,
    start: Any,
    end: Any,
    spread: Any,
    horizon: Any,
    threshold_atr: Any,
    label: Any,
    folds: Any,
    seed: Any,
    threads: Any,
    name: Any,
    promote: Any,
    custom: Any,
    json_output: Any,
    tz_offset_hours: Any = 0.0,
    use_adj_close: Any = False,
    spread_unit: Any = None,
    embargo: Any = 0,
    force: Any = False,
    reason: Any = None,
    seeds: Any = 1,
    calibrate: Any = None,
    backtester: SignalBacktester | None = None,
    forming_snapshots: Any = None,
    forming_data: Any = None,
) -> None:
    """Run ``chainflow train`` with its parsed options (see ``chainflow.ml.cli.train``)."""
    try:
        tf = _timeframe(timeframe)
        force_reason = _force_reason(promote, force, reason)
        if embargo < 0:
            raise InvalidInput(f"expected --embargo rows >= 0; received {embargo}")
        if seeds < 1:
            raise InvalidInput(f"expected --seeds >= 1; received {seeds}")
        config = TrainingConfig(
            family=model,
            n_folds=folds,
            seed=seed,
            threads=threads,
            embargo=embargo,
            calibrate=calibrate,
        )
        label_spec = _label_spec(label, horizon, threshold_atr)
        fractions = snapshot_fractions(forming_snapshots, tf, forming_data, email)
        if model != "ensemble":
            family(model)  # PyTorch missing for lstm/cnn: fail before reading any bar
        span = (parse_moment("--from", start), parse_moment("--to", end))
        symbol = symbol.strip().upper()
        if custom and email is None:
            raise InvalidInput("expected --email USER with --custom: whose model it is")
        reading = options_of_flags(tz_offset_hours, use_adj_close, spread_unit)
        if data is not None:
            bars, source = _bars_of_file(data, symbol, tf, span, reading)
        elif email is not None:
            bars, source = _stored_bars(stored_bars, email, symbol, tf, span)
        else:
            raise InvalidInput(
                "expected --data FILE, or --email USER to train on that user's stored "
                "bars (a tenant's data is used only when an operator names the tenant)"
            )
        if spread is None and not has_spread(bars):
            source["spread"] = "none in the data: rel_spread_bps would be constant, dropped"
            Console(stderr=True).print(
                "note: the bars carry no spread, so the spread feature is dropped from the "
                "model's inputs (pass --spread PRICE to set one)",
                highlight=False,
            )
        train_bars = training_bars(bars, spread=spread)
        dataset = training_dataset(train_bars, label_spec, config, symbol=symbol, timeframe=tf)
        if fractions:
            m1 = (
                _bars_of_file(forming_data, symbol, Timeframe.M1, span, reading)
                if forming_data is not None
                else _stored_bars(stored_bars, email, symbol, Timeframe.M1, span)
            )[0]
            sub = SubBars.from_aggregated(m1)
            dataset = with_forming_snapshots(dataset, train_bars, sub, fractions)
            source["forming_snapshots"] = list(fractions)
        runs = []
        for offset in range(seeds):
            run = _train(
                dataset, replace(config, seed=seed + offset), show_progress=not json_output
            )
            attach_backtest(run, train_bars, backtester)
            runs.append(run)
        result = combine_seeds(runs)
        registration = registration_for(result, dataset, name=name or f"fx-{model}", source=source)
        owner_email = email if custom else None
        promotion = Promotion(requested=promote, force_reason=force_reason, by=operator_name())
        version, artifact, outcome = asyncio.run(
            run_with_kernel(
                "hub,storage,users",
                _register(registration, result.onnx, promotion, owner_email),
            )
        )
    except ChainflowError as e:
        _fail(e.message)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None
    if json_output:
        typer.echo(json.dumps(summary(version, result, artifact, outcome), allow_nan=False))
    else:
        print_report(version, result, artifact, outcome)
    if outcome.refused is not None:
        _fail(outcome.refused)


@dataclass(frozen=True, slots=True)
class Promotion:
    """What ``--promote`` asks: promote, past the gate with ``force_reason``, by whom."""

    requested: bool
    force_reason: str | None
    by: str


def _force_reason(promote: bool, force: bool, reason: str | None) -> str | None:
    """Check ``--force``/``--reason`` before training (not after minutes of it)."""
    if not force:
        if reason is not None:
            raise InvalidInput("expected --force with --reason (a reason is for forcing)")
        return None
    if not promote:
        raise InvalidInput("expected --promote with --force (force what? the promotion)")
    if reason is None or not reason.strip():
        raise InvalidInput(
            "expected --reason TEXT with --force: why this model may trade although its "
            "verdict does not say it beats its baselines"
        )
    return str(reason)


def _register(
    registration: ModelRegistration,
    artifact: bytes,
    promotion: Promotion,
    owner_email: str | None,
) -> Callable[[TrainingKernel], Awaitable[tuple[ModelVersion, str, PromotionOutcome]]]:
    async def action(kernel: TrainingKernel) -> tuple[ModelVersion, str, PromotionOutcome]:
        registry = model_registry(kernel.settings, kernel.infra.database, kernel.clock)
        owner = limits = None
        if owner_email is not None:  # the tenant's own model, within its tier
            users = kernel.users
            if users is None:  # the runner starts "hub,storage,users": a programming error
                raise RuntimeError("expected a kernel running the users service")
            async with kernel.infra.database.unit_of_work(system=True, read_only=True) as uow:
                tenant_id = await users.admin.tenant_id_for_email(uow, owner_email)
                limits = (await users.admin.get_tenant(uow, tenant_id)).limits
            owner = TenantContext(tenant_id=TenantId(tenant_id))
        version = await register_trained(
            kernel.infra.database,
            registry,
            registration,
            artifact,
            promote=False,
            owner=owner,
            limits=limits,
        )
        outcome = PromotionOutcome(requested=promotion.requested)
        if promotion.requested:
            try:
                version = await _promote(kernel.infra.database, registry, version, promotion, owner)
                outcome = PromotionOutcome(requested=True, override=version.promotion_override)
            except ModelPromotionRefusedError as e:
                outcome = PromotionOutcome(requested=True, refused=e.message)
        store = registry.artifacts
        path = version.artifact_path
        if isinstance(store, LocalArtifactStore):
            path = str(store.resolve(path))
        return version, path, outcome

    return action


async def _promote(
    database: Database,
    registry: ModelRegistry,
    version: ModelVersion,
    promotion: Promotion,
    owner: TenantContext | None,
) -> ModelVersion:
    """Promote the registered ``version`` through the gate (in its own unit of work)."""
    unit = database.unit_of_work(owner) if owner else database.unit_of_work(system=True)
    async with unit as uow:
        return await registry.promote(
            uow,
            version.name,
            version.version,
            owner=owner,
            force=promotion.force_reason is not None,
            reason=promotion.force_reason,
            by=promotion.by,
        )


def _bars_of_file(
    path: Path,
    symbol: str,
    timeframe: Timeframe,
    span: tuple[int | None, int | None],
    reading: tuple[int, ColumnChoices] = (0, ColumnChoices()),
) -> tuple[list[AggregatedBar], dict[str, Any]]:
    if not path.is_file():
        raise InvalidInput(f"expected --data to be a readable file; received {str(path)!r}")
    offset_ms, choices = reading
    read = read_bar_file(
        path,
        symbol,
        timeframe=timeframe,
        tz_offset_ms=offset_ms,
        choices=choices,
        warn=warn_on_stderr,
    )
    bars = _within(read, span)
    _check_spacing(bars, timeframe)
    return bars, {"kind": "file", "file": path.name}


def _stored_bars(
    stored_bars: StoredBarReader,
    email: str,
    symbol: str,
    timeframe: Timeframe,
    span: tuple[int | None, int | None],
) -> tuple[list[AggregatedBar], dict[str, Any]]:
    start_ms, end_ms = span
    tenant_id, bars = stored_bars(
        email, symbol, timeframe, start_ms=start_ms, end_ms=end_ms, limit=MAX_STORED_BARS
    )
    if not bars:
        raise InvalidInput(
            f"expected stored {symbol} {timeframe.value} bars for the tenant of {email}; "
            "received none in that range (import some with chainflow import)"
        )
    return bars, {"kind": "stored", "tenant_id": tenant_id}


def _within(bars: list[AggregatedBar], span: tuple[int | None, int | None]) -> list[AggregatedBar]:
    low, high = span
    return [b for b in bars if (low is None or b.ts >= low) and (high is None or b.ts < high)]


def _check_spacing(bars: Sequence[AggregatedBar], timeframe: Timeframe) -> None:
    """Refuse a file whose bars are mostly not ``timeframe`` apart (a wrong --timeframe)."""
    if len(bars) < 3:
        return
    gaps, counts = np.unique(np.diff([b.ts for b in bars]), return_counts=True)
    usual = int(gaps[np.argmax(counts)])
    if usual != timeframe.milliseconds:
        raise InvalidInput(
            f"expected {timeframe.value} bars ({timeframe.milliseconds // 60_000} minutes "
            f"apart); received bars mostly {usual // 60_000} minutes apart: pass the file's "
            "own timeframe as --timeframe"
        )


def _train(dataset: Dataset, config: TrainingConfig, *, show_progress: bool) -> TrainingResult:
    try:
        if not show_progress:
            with contextlib.redirect_stdout(sys.stderr):  # keep stdout to the one JSON object
                return train_on_dataset(dataset, config)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True)) as bar:
            task = bar.add_task(f"training {config.family}", total=None)

            def report(stage: str, done: int, total: int) -> None:
                bar.update(task, description=stage, completed=done, total=total)

            return train_on_dataset(dataset, config, report)
    except ValueError as e:  # too few rows for the folds, a fold without training rows
        raise InvalidInput(str(e)) from e


def _timeframe(value: str) -> Timeframe:
    try:
        return Timeframe(value.strip().upper())
    except ValueError:
        expected = ", ".join(t.value for t in Timeframe)
        raise InvalidInput(f"expected a timeframe among {expected}; received {value!r}") from None


def _label_spec(kind: str, horizon: int, threshold_atr: float) -> LabelSpec:
    try:
        return LabelSpec(kind=kind, horizon=horizon, threshold_atr=threshold_atr)  # type: ignore[arg-type]
    except ValueError as e:
        raise InvalidInput(str(e)) from e


def _fail(message: str) -> NoReturn:
    Console(stderr=True, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(message)}", highlight=False
    )
    raise typer.Exit(code=1)
