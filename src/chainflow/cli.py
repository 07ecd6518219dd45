"""The ``chainflow`` command line: serve, db, services, config, version."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from chainflow import __version__
from chainflow.core.errors import ChainflowError
from chainflow.core.logging import configure_logging
from chainflow.core.settings import Settings

# Training libraries' OpenMP threads spin while idle by default, which starves other
# processes on small machines; passive waiting costs nothing measurable here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = typer.Typer(help="ChainFlow: AI trading platform backend.", no_args_is_help=True)
db_app = typer.Typer(help="Relational database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Cluster-wide config overrides (stored, then broadcast).")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


@app.callback()
def _quiet_logs_for_tools() -> None:
    # One-shot commands log warnings and errors only, for humans; `serve` reconfigures.
    configure_logging("WARNING", "console")


def _fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=1)


def _load_settings(**overrides: Any) -> Settings:
    try:
        settings = Settings()
    except ValidationError as e:
        _fail("invalid settings:\n" + "\n".join(_describe_settings_error(e)))
    return settings.model_copy(update=overrides) if overrides else settings


def _describe_settings_error(error: ValidationError) -> list[str]:
    # Each area is read by its own model; the error's title names the model that failed.
    prefix = "CHAINFLOW_"
    for field in Settings.model_fields.values():
        model = field.annotation
        if isinstance(model, type) and model.__name__ == error.title:
            prefix = str(model.model_config.get("env_prefix", prefix))
    lines = []
    for err in error.errors(include_url=False):
        where = prefix + "_".join(str(p) for p in err["loc"]).upper()
        lines.append(f"  {where}: {err['msg']}")
    return lines


def _run(make: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(make())
    except ChainflowError as e:
        _fail(e.message)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


@app.command()
def version() -> None:
    """Print the ChainFlow version."""
    console.print(f"chainflow {__version__}")


@app.command()
def services(
    services: Annotated[str | None, typer.Option(help="comma-separated names, or all")] = None,
) -> None:
    """List the twelve services with their layer and status."""
    from chainflow.runtime.services import SERVICES, resolve_services

    settings = _load_settings()
    try:
        enabled = {s.name for s in resolve_services(services or settings.services)}
    except ChainflowError as e:
        _fail(e.message)
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
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    services: Annotated[
        str | None, typer.Option(help="comma-separated services to run here (default all)")
    ] = None,
) -> None:
    """Run the enabled services in this process (all twelve by default)."""
    from chainflow.runtime.kernel import Kernel
    from chainflow.runtime.server import check_serving_key, run_serving, serve_kernel

    settings = _load_settings()
    http = settings.http.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    settings = settings.model_copy(update={"http": http})
    try:
        warning = check_serving_key(settings, http.host)
    except ChainflowError as e:
        err_console.print(f"[bold red]error:[/] {e.message}", highlight=False)
        raise typer.Exit(code=2) from None
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
        _fail(e.message)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to CHAINFLOW_DATABASE_URL."""
    from chainflow.core.logging import redact_url
    from chainflow.runtime.kernel import Kernel

    settings = _load_settings()

    async def main() -> str | None:
        kernel = Kernel(settings)
        kernel.build()
        try:
            await kernel.infra.database.check_connection()
            return await kernel.migrate()
        finally:
            await kernel.infra.database.dispose()

    revision = _run(main)
    console.print(f"database {redact_url(settings.database_url)} is at revision {revision}")


@config_app.command("show")
def config_show() -> None:
    """Print the effective config: settings overlaid by stored overrides."""
    console.print_json(json.dumps(_run(lambda: _with_config(lambda c: _sync(c.effective())))))


@config_app.command("set")
def config_set(key: str, value: str) -> None:
    """Store an override (VALUE is JSON, or a bare string) and broadcast the change."""
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    typed = _run(lambda: _with_config(lambda c: c.set_override(key, parsed, updated_by="cli")))
    console.print(f"{key} = {typed!r}")


async def _sync(value: T) -> T:
    return value


async def _with_config(action: Callable[[Any], Awaitable[T]]) -> T:
    return await _with_kernel("hub,storage", lambda kernel: action(kernel.config))


def _register_market_commands() -> None:
    from chainflow.bridge.importers import make_import_command
    from chainflow.bridge.sample_data import sample_data_command
    from chainflow.client.replay import replay_command

    app.command("sample-data", help="Write a deterministic synthetic market (MT5 files, CSV).")(
        sample_data_command
    )
    app.command("import", help="Import an MT5 history export or OHLCV CSV (idempotent).")(
        make_import_command(_with_kernel)
    )
    app.command("replay", help="Stream an MT5 tick file to a server through WS /ws/ticks.")(
        replay_command
    )
    from chainflow.runtime.demo import demo_command

    app.command("demo", help="Run the platform on sample data and show live signals.")(demo_command)


users_app = typer.Typer(help="Operator tasks on users and tenants.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("grant-superadmin")
def users_grant_superadmin(email: str) -> None:
    """Make the user with EMAIL a platform superadmin (how the first admin is made)."""

    async def grant(kernel: Any) -> None:
        async with kernel.infra.database.unit_of_work(system=True) as uow:
            await kernel.users.admin.grant_superadmin(uow, email)

    _run(lambda: _with_users(grant))
    console.print(f"{email} is now a superadmin")


@users_app.command("set-tier")
def users_set_tier(email: str, tier: str) -> None:
    """Move the tenant of the user with EMAIL to TIER (free, pro or enterprise)."""

    async def change(kernel: Any) -> str:
        async with kernel.infra.database.unit_of_work(system=True) as uow:
            tenant_id = await kernel.users.admin.tenant_id_for_email(uow, email)
            summary = await kernel.users.admin.change_tier(uow, None, tenant_id, tier)
        return f"tenant {summary.tenant_id} of {email} is now on the {summary.tier} tier"

    console.print(_run(lambda: _with_users(change)))


@users_app.command("set-limits")
def users_set_limits(email: str, overrides: str) -> None:
    """Replace the limit overrides of EMAIL's tenant (JSON, e.g. '{"ticks_per_second": 5000}')."""
    try:
        parsed = json.loads(overrides)
    except json.JSONDecodeError as e:
        _fail(f"expected OVERRIDES as a JSON object; received invalid JSON ({e.msg})")

    async def change(kernel: Any) -> str:
        async with kernel.infra.database.unit_of_work(system=True) as uow:
            tenant_id = await kernel.users.admin.tenant_id_for_email(uow, email)
            summary = await kernel.users.admin.set_limit_overrides(uow, tenant_id, parsed)
        return f"tenant {summary.tenant_id} limits: {summary.limits.to_dict()}"

    console.print(_run(lambda: _with_users(change)), highlight=False)


async def _with_users(action: Callable[[Any], Awaitable[T]]) -> T:
    return await _with_kernel("hub,storage,users", action)


async def _with_kernel(services: str, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``action(kernel)`` on a started kernel that does not register or serve."""
    from chainflow.runtime.kernel import Kernel

    kernel = Kernel(_load_settings(), services=services)
    await kernel.start(serving=False)
    try:
        return await action(kernel)
    finally:
        await kernel.stop()


def _register_models_commands() -> None:
    from chainflow.ml.cli_models import make_models_app
    from chainflow.ml.cli_train import make_train_command

    app.add_typer(make_models_app(_with_kernel), name="models")
    app.command("train", help="Train a model on bars, compare it with baselines, register it.")(
        make_train_command(_with_kernel)
    )


def _register_backtest_commands() -> None:
    from chainflow.backtest.cli import make_backtest_commands

    for name, (command, help_text) in make_backtest_commands(_with_kernel).items():
        app.command(name, help=help_text)(command)


_register_market_commands()
_register_models_commands()
_register_backtest_commands()
