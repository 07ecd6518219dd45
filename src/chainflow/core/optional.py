"""Load a backend that needs an optional extra, with a clear message when it is missing."""

from __future__ import annotations

import importlib
from typing import Any

from chainflow.core.errors import ConfigurationError


def load_backend(module: str, attribute: str, *, library: str, extra: str, purpose: str) -> Any:
    """Return ``module.attribute``; a missing ``library`` becomes a ConfigurationError.

    Only the absence of ``library`` itself is translated: an import error inside our own
    module is a bug and propagates unchanged.
    """
    try:
        return getattr(importlib.import_module(module), attribute)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != library:
            raise
        raise ConfigurationError(
            f"{purpose} needs the {library} client library, which is not installed; "
            f"install it with: pip install 'chainflow[{extra}]'"
        ) from e
