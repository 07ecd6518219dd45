"""``chainflow models``: list, promote, roll back and archive platform models.

The ml service sits below ``runtime`` and cannot build a kernel itself, so the CLI passes
its ``_with_kernel``: ``app.add_typer(make_models_app(_with_kernel), name="models")``. Each
command opens one ``system=True`` unit of work on the kernel's database; artifacts are
under ``CHAINFLOW_HOME/models``.

``promote`` passes the promotion gate (``chainflow.ml.registry.promotion_gate``): a version whose
verdict does not say it beats its baselines is refused (exit 1, one line) unless
``--force --reason TEXT``; the listings show each version's verdict and any forced
promotion with its reason.

``card`` shows a version's model card (``chainflow.ml.cards.model_card``) as tables, ``--json``
as the API answers it, and ``--html FILE`` writes the HTML page with its charts. Live
scores are kept per tenant, so the CLI's card of a platform model has no live part: the
API's card shows the caller's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chainflow.core.errors import ChainflowError

if TYPE_CHECKING:  # the registry pulls in SQLAlchemy: imported when a command runs
    from chainflow.ml.registry.model_registry import ModelRegistry
    from chainflow.ml.registry.types import ModelSummary, ModelVersion
    from chainflow.storage.relational import UnitOfWork

T = TypeVar("T")
KernelRunner = Callable[[str, Callable[[Any], Awaitable[T]]], Coroutine[Any, Any, T]]
"""Runs ``action(kernel)`` on a started tool-mode kernel with the named services."""
KERNEL_SERVICES = "hub,storage"
RegistryAction = Callable[["ModelRegistry", "UnitOfWork"], Awaitable[T]]
CLI_LIVE_NOTE = (
    "live scores are kept per tenant: GET /api/v1/models/{name}/{version}/card shows the caller's"
)


def make_models_app(run_with_kernel: KernelRunner[Any]) -> typer.Typer:
    """Return the ``chainflow models`` Typer app, running on kernels from ``run_with_kernel``."""
    models_app = typer.Typer(help="The platform's model registry.", no_args_is_help=True)

    def run(action: RegistryAction[T], *, read_only: bool = False) -> T:
        from chainflow.ml.registry.model_registry import model_registry

        async def on_kernel(kernel: Any) -> T:
            registry = model_registry(kernel.settings, kernel.infra.database, kernel.clock)
            database = kernel.infra.database
            async with database.unit_of_work(system=True, read_only=read_only) as uow:
                return await action(registry, uow)

        try:
            return asyncio.run(run_with_kernel(KERNEL_SERVICES, on_kernel))
        except ChainflowError as e:
            _fail(e.message)
        except KeyboardInterrupt:
            raise typer.Exit(code=130) from None

    @models_app.command("list")
    def list_models(
        name: Annotated[str | None, typer.Argument(help="a model name: list its versions")] = None,
    ) -> None:
        """List the platform models, or every version of the model NAME."""
        if name is None:
            summaries = run(lambda r, uow: r.list(uow), read_only=True)
            _print_summaries(summaries)
        else:
            versions = run(lambda r, uow: r.versions(uow, name), read_only=True)
            _print_versions(name, versions)

    @models_app.command("promote")
    def promote(
        name: str,
        version: int,
        force: Annotated[
            bool, typer.Option(help="promote although the verdict does not beat the baselines")
        ] = False,
        reason: Annotated[
            str | None, typer.Option(help="why, with --force (stored with the version)")
        ] = None,
    ) -> None:
        """Make VERSION of the platform model NAME production; archive the previous one.

        Refused when its training verdict does not say it beats its baselines, unless
        --force with --reason."""
        from chainflow.ml.registry.promotion_gate import operator_name

        model = run(
            lambda r, uow: r.promote(
                uow, name, version, force=force, reason=reason, by=operator_name()
            )
        )
        forced = " (forced: the verdict did not allow it)" if model.promotion_override else ""
        _print_change(model, f"is now in production{forced}")

    @models_app.command("card")
    def card(
        name: str,
        version: int,
        as_json: Annotated[bool, typer.Option("--json", help="print the card as JSON")] = False,
        html: Annotated[
            Path | None, typer.Option(help="also write the card as an HTML page to this file")
        ] = None,
    ) -> None:
        """Show the model card of VERSION of the platform model NAME: data, label, features,
        scores against the baselines, calibration, importance, backtest, promotion."""
        from chainflow.ml.cards.model_card import build_card, live_not_kept

        model = run(lambda r, uow: r.get(uow, name, version), read_only=True)
        model_card = build_card(model, live_not_kept(CLI_LIVE_NOTE))
        if html is not None:
            from chainflow.ml.cards.html import render_card_html

            try:
                html.write_text(render_card_html(model_card), encoding="utf-8")
            except OSError as e:
                _fail(f"expected a writable --html file; writing {html} failed: {e}")
            Console(stderr=as_json, soft_wrap=True).print(
                f"wrote the model card of {escape(model.ref)} to {escape(str(html))}",
                highlight=False,
            )
        if as_json:
            typer.echo(model_card.model_dump_json(indent=2))
            return
        from chainflow.ml.cards.text import print_card

        print_card(model_card, Console(soft_wrap=True))

    @models_app.command("rollback")
    def rollback(name: str) -> None:
        """Bring back the previous production version of the platform model NAME."""
        model = run(lambda r, uow: r.rollback(uow, name))
        _print_change(model, "is back in production")

    @models_app.command("archive")
    def archive(name: str, version: int) -> None:
        """Archive VERSION of the platform model NAME."""
        model = run(lambda r, uow: r.archive(uow, name, version))
        _print_change(model, "is archived")

    return models_app


def _print_summaries(summaries: list[ModelSummary]) -> None:
    table = Table(title="Platform models")
    for column in ("name", "family", "production", "latest", "versions", "verdict"):
        table.add_column(column)
    for s in summaries:
        production = "-" if s.production_version is None else str(s.production_version)
        verdict = "-"
        if s.production_verdict is not None:
            verdict = _verdict_cell(s.production_verdict.status.value, s.production_override)
        table.add_row(
            s.name, s.family, production, str(s.latest_version), str(s.version_count), verdict
        )
    Console(soft_wrap=True).print(table if summaries else "no platform models are registered")


def _print_versions(name: str, versions: list[ModelVersion]) -> None:
    from chainflow.ml.registry.promotion_gate import verdict_of

    table = Table(title=f"Platform model {name}")
    columns = ("version", "stage", "family", "timeframe", "created", "promoted", "sha256")
    for column in (*columns, "verdict"):
        table.add_column(column)
    for v in versions:
        verdict = verdict_of(v.metrics)
        table.add_row(
            str(v.version),
            v.stage.value,
            v.family,
            v.timeframe,
            _moment(v.created_at),
            _moment(v.promoted_at),
            v.artifact_sha256[:12],
            escape(f"{verdict.sentence}{_forced(v.promotion_override)}"),
        )
    Console(soft_wrap=True).print(table)


def _verdict_cell(status: str, override: dict[str, Any] | None) -> str:
    return escape(f"{status}{_forced(override)}")


def _forced(override: dict[str, Any] | None) -> str:
    if override is None:
        return ""
    return f"; forced by {override.get('by') or 'unknown'}: {override.get('reason')}"


def _print_change(model: ModelVersion, what: str) -> None:
    Console(soft_wrap=True).print(f"model {model.ref} {what}", highlight=False)


def _moment(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat(timespec="seconds")


def _fail(message: str) -> NoReturn:
    Console(stderr=True, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(message)}", highlight=False
    )
    raise typer.Exit(code=1)
