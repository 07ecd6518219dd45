"""``chainflow users``: operator tasks on users and tenants, named by a user's e-mail.

Each command says which home it used. When a server owns that home the change goes
through it (so that it applies at once to the server's cached principals and limits);
otherwise it runs on the home's database, which must already exist: a lookup never
creates a home where there was none.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from chainflow.cli.kernels import with_kernel
from chainflow.cli.operator import KERNEL_SERVICES, users_target
from chainflow.cli.output import console, fail
from chainflow.core.errors import ChainflowError

users_app = typer.Typer(help="Operator tasks on users and tenants.", no_args_is_help=True)
Email = Annotated[str, typer.Argument(help="e-mail address of a user; acts on their tenant")]
UNKNOWN_USER = "user_not_found"


@users_app.command("grant-superadmin")
def grant_superadmin(email: Email) -> None:
    """Make the user with EMAIL a platform superadmin (how the first admin is made)."""

    async def task(kernel: Any) -> None:
        from chainflow.runtime import operator_tasks

        await operator_tasks.grant_superadmin(kernel, email)

    _change(email, "/users/superadmin", {"email": email}, task)
    console.print(f"{email} is now a superadmin", highlight=False)


@users_app.command("set-tier")
def set_tier(
    email: Email, tier: Annotated[str, typer.Argument(help="free, pro or enterprise")]
) -> None:
    """Move the tenant of the user with EMAIL to TIER."""

    async def task(kernel: Any) -> dict[str, Any]:
        from chainflow.runtime import operator_tasks

        return operator_tasks.summary_to_json(await operator_tasks.change_tier(kernel, email, tier))

    summary = _change(email, "/users/tier", {"email": email, "tier": tier}, task)
    console.print(
        f"tenant {summary['tenant_id']} of {email} is now on the {summary['tier']} tier",
        highlight=False,
    )


@users_app.command("set-limits")
def set_limits(
    email: Email,
    overrides: Annotated[
        str, typer.Argument(help="JSON object, e.g. '{\"ticks_per_second\": 5000}'; {} resets")
    ],
) -> None:
    """Replace the limit overrides of the tenant of the user with EMAIL."""
    try:
        parsed = json.loads(overrides)
    except json.JSONDecodeError as e:
        fail(f"expected OVERRIDES as a JSON object; received invalid JSON ({e.msg})")

    async def task(kernel: Any) -> dict[str, Any]:
        from chainflow.runtime import operator_tasks

        return operator_tasks.summary_to_json(
            await operator_tasks.set_limits(kernel, email, parsed)
        )

    summary = _change(email, "/users/limits", {"email": email, "overrides": parsed}, task)
    console.print(f"tenant {summary['tenant_id']} limits: {summary['limits']}", highlight=False)


def _change(
    email: str, path: str, body: dict[str, Any], task: Callable[[Any], Awaitable[Any]]
) -> Any:
    server, home, settings = users_target()
    where = f"{home} (through the server at {server.url})" if server else str(home)
    console.print(f"home: {where}", highlight=False)
    try:
        if server is not None:
            return server.post(path, body)
        if settings.database.url is None and not (home / "chainflow.db").is_file():
            _no_account(email, home, "no database there: set CHAINFLOW_HOME to the server's home")
        return asyncio.run(with_kernel(KERNEL_SERVICES, task))
    except ChainflowError as e:
        remote = getattr(e, "remote_code", None)
        if UNKNOWN_USER in (e.code, remote):
            _no_account(email, home)
        fail(e.message)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


def _no_account(email: str, home: Path, why: str | None = None) -> NoReturn:
    fail(f"no account for {email} in home {home}" + (f" ({why})" if why else ""))
