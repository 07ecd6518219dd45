"""Optional extras: import what only some set-ups need, and say which extra installs it.

The base install (``pip install chainflow``) holds what the embedded default and the demo
use. Drivers for the scaled backends (PostgreSQL, Redis, NATS, ClickHouse, chDB, pgvector),
Optuna (Bayesian search) and Plotly (HTML reports) are extras. Code that needs one imports
it through this module, so that a missing package becomes a ``MissingExtraError`` naming
``pip install 'chainflow[<extra>]'``: the CLI prints it as one line and exits 1, HTTP answers
it as ``501 missing_extra`` in the error shape.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

from chainflow.core.errors import ConfigurationError


class MissingExtraError(ConfigurationError):
    """An optional package is not installed; the message names the extra that installs it."""

    code = "missing_extra"
    status = 501

    def __init__(self, purpose: str, *, library: str, extra: str) -> None:
        self.library = library
        self.extra = extra
        super().__init__(
            f"{purpose} needs the {library} package, which is not installed; "
            f"install it with: {install_command(extra)}",
            details={"library": library, "extra": extra, "install": install_command(extra)},
        )


def install_command(extra: str) -> str:
    """Return the pip command that installs ChainFlow's ``extra``."""
    return f"pip install 'chainflow[{extra}]'"


def import_optional(
    module: str, *, extra: str, purpose: str, library: str | None = None
) -> ModuleType:
    """Import and return ``module``; a missing ``library`` raises ``MissingExtraError``.

    ``library`` is the top-level package the extra installs (default: ``module``'s first
    component). Only its absence is translated: an import error inside an installed package
    (a broken install, or a dependency of its own) propagates unchanged.
    """
    top = library or module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != top:
            raise
        raise MissingExtraError(purpose, library=top, extra=extra) from e


def require_installed(library: str, *, extra: str, purpose: str) -> None:
    """Raise ``MissingExtraError`` unless the top-level package ``library`` is installed.

    Finds the package without importing it, so a backend can refuse at construction (before
    any migration or connection) and still import its driver only when it opens.
    """
    try:
        found = importlib.util.find_spec(library) is not None
    except ModuleNotFoundError:  # an import hook that refuses the package
        found = False
    if not found:
        raise MissingExtraError(purpose, library=library, extra=extra)


def load_backend(module: str, attribute: str, *, library: str, extra: str, purpose: str) -> Any:
    """Return ``module.attribute``, where ``module`` is our backend built on ``library``.

    A missing ``library`` raises ``MissingExtraError``; an import error inside our own
    module is a bug and propagates unchanged.
    """
    backend = import_optional(module, extra=extra, purpose=purpose, library=library)
    return getattr(backend, attribute)
