"""The storage layer's own errors, each with its wire code and HTTP status.

Most storage failures are the ``core.errors`` bases themselves (``DependencyUnavailable``
for a backend that does not answer, ``ConfigurationError`` for a bad URL or a missing
extra, ``InvalidInput`` for a bad argument); a class is added here when an operator needs
to tell one failure from the others.
"""

from __future__ import annotations

from chainflow.core.errors import ConfigurationError


class MigrationsMissingError(ConfigurationError):
    """The installed package holds no migration scripts (a broken install or build)."""

    code = "migrations_missing"
