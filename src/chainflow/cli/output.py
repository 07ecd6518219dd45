"""What every ``chainflow`` command prints: the consoles, failures, and running a coroutine."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from chainflow.core.errors import ChainflowError

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


def fail(message: str, *, exit_code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and end the command with ``exit_code``."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code=exit_code)


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine ``make()`` returns; a ``ChainflowError`` ends the command cleanly."""
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except ChainflowError as e:
        fail(e.message)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None
