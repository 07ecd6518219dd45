"""The ``chainflow`` command line: serve, db, config, services, version, and the commands of
the services (import, train, backtest, models, users, ...).

Start-up is kept cheap: declaring a command imports only Typer and the command's options;
settings, the kernel, NumPy, SQLAlchemy, DuckDB, FastAPI and the training libraries are
imported inside the command that uses them, so ``chainflow --help`` and ``chainflow
version`` cost a small fraction of a second (``benchmarks/cli_startup.py`` measures it).
Help is plain text (``rich_markup_mode=None``): flags read ``--json``, not ``--json <bool>``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape

from chainflow import __version__
from chainflow.cli.kernels import load_settings, with_kernel
from chainflow.cli.notify import notify_app
from chainflow.cli.output import console, err_console, fail, run
from chainflow.cli.users import users_app
from chainflow.core.errors import ChainflowError, ConfigurationError

if TYPE_CHECKING:
    from chainflow.ml.api import SignalWindow, WindowOutcome

# Training libraries' OpenMP threads spin while idle by default, which starves other
# processes on small machines; passive waiting costs nothing measurable here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# No shell-completion options: Typer coerces every option through Pydantic, and those two
# made even `chainflow version` import it (0.2 s of CPU).
app = typer.Typer(
    help="ChainFlow: AI trading platform backend.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    context_settings={"max_content_width": 100},
)
db_app = typer.Typer(
    help="Relational database schema.", no_args_is_help=True, rich_markup_mode=None
)
config_app = typer.Typer(
    help="Cluster-wide config overrides (stored, then broadcast).", rich_markup_mode=None
)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(users_app, name="users")
app.add_typer(notify_app, name="notify")
T = TypeVar("T")
QUIET_COMMANDS = frozenset({"version"})

__all__ = ["app", "main"]


@app.callback()
def _quiet_logs_for_tools(ctx: typer.Context) -> None:
    # One-shot commands log warnings and errors only, for humans; `serve` reconfigures.
    if ctx.invoked_subcommand in QUIET_COMMANDS:
        return
    from chainflow.core.logging import configure_logging

    configure_logging("WARNING", "console")


@app.command()
def version() -> None:
    """Print the ChainFlow version."""
    typer.echo(f"chainflow {__version__}")


@app.command()
def services(
    services: Annotated[
        str | None, typer.Option(help="comma-separated names, or all (default: settings)")
    ] = None,
) -> None:
    """List the twelve services with their layer and status."""
    from rich.table import Table

    from chainflow.runtime.services import SERVICES, resolve_services

    settings = load_settings()
    try:
        enabled = {s.name for s in resolve_services(services or settings.services)}
    except ChainflowError as e:
        fail(e.message)
    table = Table(title="ChainFlow services")
    for column in ("service", "layer", "role", "owns", "status"):
        table.add_column(column)
    for spec in SERVICES:
        if not spec.has_behaviour:
            status = f"[dim]planned ({spec.planned_in})[/]"
        elif spec.name in enabled:
            status = "[green]enabled[/]"
        else:
            status = "[yellow]disabled[/]"
        table.add_row(spec.name, str(spec.layer), spec.role, spec.owns, status)
    console.print(table)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="bind address (default: CHAINFLOW_HTTP_HOST, 127.0.0.1)")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port (default: CHAINFLOW_HTTP_PORT, 8000)")
    ] = None,
    services: Annotated[
        str | None, typer.Option(help="comma-separated services to run here (default all)")
    ] = None,
) -> None:
    """Run the enabled services in this process (all twelve by default).

    While it runs, the server owns CHAINFLOW_HOME: it writes server.json there (its URL and
    a local admin token, readable by its owner only) and the CLI's commands on that home
    go through it.
    """
    from chainflow.core.logging import configure_logging
    from chainflow.runtime.kernel import Kernel
    from chainflow.runtime.server import check_serving_key, run_serving, serve_kernel

    settings = load_settings()
    http = settings.http.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    settings = settings.model_copy(update={"http": http})
    try:
        warning = check_serving_key(settings, http.host)
    except ChainflowError as e:
        fail(e.message, exit_code=2)
    if warning is not None:
        err_console.print(f"[bold yellow]{warning}[/]", highlight=False)
    configure_logging(settings.log.level, settings.log.format)

    async def main() -> None:
        kernel = Kernel(settings, services=services).build()
        console.print(
            f"[bold]ChainFlow {__version__}[/] on http://{http.host}:{http.port} "
            f"services: {', '.join(kernel.running_names)}",
            highlight=False,
        )
        await serve_kernel(kernel, host=http.host, port=http.port)

    try:
        run_serving(main())
    except ChainflowError as e:
        fail(e.message)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to CHAINFLOW_DATABASE_URL."""
    from chainflow.core.logging import redact_url
    from chainflow.runtime.kernel import Kernel

    settings = load_settings()

    async def main() -> str | None:
        kernel = Kernel(settings)
        kernel.build()
        try:
            await kernel.infra.database.check_connection()
            return await kernel.migrate()
        finally:
            await kernel.infra.database.dispose()

    revision = run(main)
    console.print(f"database {redact_url(settings.database_url)} is at revision {revision}")


@config_app.command("show")
def config_show() -> None:
    """Print the effective config: settings overlaid by stored overrides."""
    console.print_json(json.dumps(run(lambda: _with_config(lambda c: _sync(c.effective())))))


@config_app.command("set")
def config_set(
    key: Annotated[str, typer.Argument(help="dotted setting name, e.g. log.level")],
    value: Annotated[str, typer.Argument(help="JSON value, or a bare string")],
) -> None:
    """Store an override and broadcast the change."""
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    typed = run(lambda: _with_config(lambda c: c.set_override(key, parsed, updated_by="cli")))
    console.print(f"{key} = {typed!r}")


async def _sync(value: T) -> T:
    return value


async def _with_config(action: Callable[[Any], Awaitable[T]]) -> T:
    return await with_kernel("hub,storage", lambda kernel: action(kernel.config))


def _backtest_signal_window(window: SignalWindow) -> WindowOutcome:
    """``chainflow train``'s signal backtest, imported on first use (``--help`` stays fast)."""
    from chainflow.backtest.oos_signals import backtest_signal_window

    return backtest_signal_window(window)


def _register_service_commands() -> None:
    from chainflow.backtest.cli import make_backtest_commands
    from chainflow.bridge.importers import make_import_command
    from chainflow.cli.operator import read_stored_bars, run_import
    from chainflow.client.replay import replay_command
    from chainflow.demo.command import demo_command
    from chainflow.demo.sample_data import sample_data_command
    from chainflow.ml.cli.models import make_models_app
    from chainflow.ml.cli.train import make_train_command

    app.command("sample-data", help="Write a deterministic synthetic market (MT5 files, CSV).")(
        sample_data_command
    )
    app.command("import", help="Import an MT5 history export or OHLCV CSV (idempotent).")(
        make_import_command(run_import)
    )
    app.command("replay", help="Stream an MT5 tick file to a server through WS /ws/ticks.")(
        replay_command
    )
    app.command("demo", help="Run the platform on sample data and show live signals.")(demo_command)
    app.add_typer(make_models_app(with_kernel), name="models")
    app.command("train", help="Train a model on bars, compare it with baselines, register it.")(
        make_train_command(with_kernel, read_stored_bars, _backtest_signal_window)
    )
    for name, (command, help_text) in make_backtest_commands(with_kernel, read_stored_bars).items():
        app.command(name, help=help_text)(command)


_register_service_commands()


# --- entry point: a missing optional extra ends any command with one line -------------------


def main() -> None:
    """Run the ``chainflow`` command (the console script and ``python -m chainflow``).

    A ``ConfigurationError`` no command caught (such as a ``MissingExtraError`` naming
    ``pip install 'chainflow[postgres]'``) is printed as one line on stderr, exit code 1.
    """
    try:
        app()
    except ConfigurationError as e:
        err_console.print(f"[bold red]error:[/] {escape(e.message)}", highlight=False)
        raise SystemExit(1) from None
