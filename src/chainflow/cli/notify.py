"""``chainflow notify``: a user's notification preferences, a test message, the delivery log.

The user is named by e-mail. Each command opens the home's relational database (never
creating a home where there was none) and says which home it used. Preferences are read
from the database at every event, so a change applies at once even to a running server;
``notify test`` queues the message and delivers it from this process (with the channels
``CHAINFLOW_NOTIFY_*`` configures), unless the server's worker took it first, and prints
its final state. Bad input ends with exit code 2, an unknown account or a refused change
with 1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from chainflow.cli.kernels import with_kernel
from chainflow.cli.operator import users_target
from chainflow.cli.output import console, fail
from chainflow.core.errors import ChainflowError

notify_app = typer.Typer(
    help="Notification preferences, test messages and the delivery log of a user.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
prefs_app = typer.Typer(
    help="Show or change a user's notification preferences.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
notify_app.add_typer(prefs_app, name="prefs")

KERNEL_SERVICES = "hub,storage,users"
CHANNELS = ("email", "telegram", "sms", "push")
STATES = ("pending", "sending", "sent", "failed", "dead")
BAD_INPUT_CODES = frozenset({"notification_preference_invalid"})
UNKNOWN_ACCOUNT_CODES = frozenset({"notification_account_not_found"})

Email = Annotated[str, typer.Option("--email", help="e-mail address of the user")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object")]


@prefs_app.command("show")
def prefs_show(email: Email, as_json: JsonFlag = False) -> None:
    """Show the user's preferences: channels per event, severity, quiet hours, digest."""
    shown = _run(email, lambda operator: operator.show(email), quiet=as_json)
    _print_preferences(shown, as_json)


@prefs_app.command("set")
def prefs_set(
    email: Email,
    event: Annotated[
        str | None, typer.Option(help="event kind, e.g. terminal_disconnected (see prefs show)")
    ] = None,
    channel: Annotated[str | None, typer.Option(help="email, telegram, sms or push")] = None,
    enabled: Annotated[
        bool | None,
        typer.Option(
            "--on/--off",
            help="turn CHANNEL on or off for EVENT (without --event: for every event "
            "not listed; without --channel: mute EVENT or give it the defaults back)",
        ),
    ] = None,
    min_severity: Annotated[
        str | None, typer.Option(help="info, warning or critical (critical always passes)")
    ] = None,
    quiet_hours: Annotated[
        str | None, typer.Option(help="HH:MM-HH:MM in the user's time zone, or off")
    ] = None,
    tz: Annotated[
        str | None, typer.Option("--tz", help="the user's IANA time zone, e.g. Asia/Jakarta")
    ] = None,
    digest: Annotated[str | None, typer.Option(help="off, hourly or daily")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change the user's preferences and print the result."""
    if channel is not None and channel not in CHANNELS:
        fail(f"expected --channel from {', '.join(CHANNELS)}; received {channel!r}", exit_code=2)

    async def action(operator: Any) -> dict[str, Any]:
        from chainflow.notify.api import PreferenceChange

        change = PreferenceChange(
            event=event,
            channel=channel,
            enabled=enabled,
            min_severity=min_severity,
            quiet_hours=quiet_hours,
            timezone=tz,
            digest=digest,
        )
        return await operator.change(email, change)

    _print_preferences(_run(email, action, quiet=as_json), as_json)


@notify_app.command("test")
def test_send(
    email: Email,
    channel: Annotated[str, typer.Option(help="email, telegram, sms or push")] = "email",
    wait: Annotated[float, typer.Option(help="seconds to wait for delivery", min=0)] = 30.0,
    as_json: JsonFlag = False,
) -> None:
    """Send the user a test message on CHANNEL and print how its delivery ended."""
    if channel not in CHANNELS:
        fail(f"expected --channel from {', '.join(CHANNELS)}; received {channel!r}", exit_code=2)
    sent = _run(email, lambda operator: operator.test(email, channel, wait_s=wait), quiet=as_json)
    if as_json:
        typer.echo(json.dumps(sent))
        return
    for item in sent["items"]:
        error = f" ({item['last_error']})" if item["last_error"] else ""
        console.print(
            f"test to {item['address']} on {item['channel']}: {item['state']}{error}",
            highlight=False,
        )
    if any(item["state"] != "sent" for item in sent["items"]):
        raise typer.Exit(code=1)


@notify_app.command("log")
def delivery_log(
    email: Email,
    limit: Annotated[int, typer.Option(help="newest messages to show", min=1, max=200)] = 20,
    state: Annotated[
        str | None, typer.Option(help="only pending, sending, sent, failed or dead")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show the user's delivery log, newest first."""
    if state is not None and state not in STATES:
        fail(f"expected --state from {', '.join(STATES)}; received {state!r}", exit_code=2)
    found = _run(
        email, lambda operator: operator.log(email, limit=limit, state=state), quiet=as_json
    )
    if as_json:
        typer.echo(json.dumps(found))
        return
    from rich.table import Table

    table = Table(title=f"notifications of {found['email']}")
    for column in ("created", "event", "channel", "state", "tries", "subject"):
        table.add_column(column)
    for item in found["items"]:
        table.add_row(
            item["created_at"][:19],
            item["event_type"],
            item["channel"],
            item["state"],
            str(item["attempts"]),
            item["subject"],
        )
    console.print(table)


def _run(email: str, task: Callable[[Any], Awaitable[Any]], *, quiet: bool) -> Any:
    """Run ``task(operator)`` on a tool-mode kernel of the configured home."""
    _server, home, settings = users_target()
    if not quiet:
        console.print(f"home: {home}", highlight=False)
    if settings.database.url is None and not (home / "chainflow.db").is_file():
        _no_account(email, home, "no database there: set CHAINFLOW_HOME to the server's home")

    async def on_kernel(kernel: Any) -> Any:
        from chainflow.runtime.notify_wiring import build_notify_operator

        operator = build_notify_operator(kernel)
        try:
            return await task(operator)
        finally:
            await operator.close()

    try:
        return asyncio.run(with_kernel(KERNEL_SERVICES, on_kernel))
    except ChainflowError as e:
        if e.code in UNKNOWN_ACCOUNT_CODES:
            _no_account(email, home)
        fail(e.message, exit_code=2 if e.code in BAD_INPUT_CODES else 1)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


def _no_account(email: str, home: Path, why: str | None = None) -> NoReturn:
    fail(f"no account for {email} in home {home}" + (f" ({why})" if why else ""))


def _print_preferences(shown: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(shown))
        return
    from rich.table import Table

    preferences = shown["preferences"]
    quiet = preferences["quiet_hours"]
    lines = [
        f"user: {shown['email']} (tenant {shown['tenant_id']}, {shown['tier']} tier)",
        f"time zone: {shown['timezone']}",
        f"default channels: {', '.join(preferences['default_channels']) or 'none'}",
        f"minimum severity: {preferences['min_severity']}",
        f"quiet hours: {quiet['start'][:5] + '-' + quiet['end'][:5] if quiet else 'off'}",
        f"digest: {preferences['digest']}",
    ]
    for line in lines:
        console.print(line, highlight=False)
    table = Table()
    table.add_column("event")
    table.add_column("channels")
    for kind, channels in shown["effective"].items():
        table.add_row(kind, ", ".join(channels) or "muted")
    console.print(table)
