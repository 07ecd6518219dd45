"""Optional extras: a missing package becomes one error naming the extra that installs it."""

from __future__ import annotations

import json
import sys

import pytest

from chainflow.core.errors import ConfigurationError
from chainflow.core.optional import (
    MissingExtraError,
    import_optional,
    install_command,
    load_backend,
    require_installed,
)
from tests.fixtures.missing_modules import hide_modules


class TestMissingExtraError:
    def test_names_the_purpose_the_package_and_the_install_command(self) -> None:
        error = MissingExtraError("cache URL 'redis://h'", library="redis", extra="redis")
        assert error.message == (
            "cache URL 'redis://h' needs the redis package, which is not installed; "
            "install it with: pip install 'chainflow[redis]'"
        )
        assert error.library == "redis" and error.extra == "redis"

    def test_is_a_configuration_error_answered_501_in_the_error_shape(self) -> None:
        error = MissingExtraError("Bayesian search", library="optuna", extra="optimize")
        assert isinstance(error, ConfigurationError)
        assert error.status == 501
        assert error.to_payload() == {
            "error": {
                "code": "missing_extra",
                "message": error.message,
                "details": {
                    "library": "optuna",
                    "extra": "optimize",
                    "install": "pip install 'chainflow[optimize]'",
                },
            }
        }
        json.dumps(error.to_payload())

    def test_install_command_quotes_the_brackets_for_the_shell(self) -> None:
        assert install_command("postgres") == "pip install 'chainflow[postgres]'"


class TestImportOptional:
    def test_returns_the_installed_module(self) -> None:
        module = import_optional("json.decoder", extra="none", purpose="a test")
        assert module.JSONDecodeError is json.JSONDecodeError

    def test_a_missing_library_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        hide_modules(monkeypatch, "plotly")
        with pytest.raises(MissingExtraError) as caught:
            import_optional("plotly.graph_objects", extra="reports", purpose="an HTML report")
        assert caught.value.library == "plotly" and caught.value.extra == "reports"
        assert "pip install 'chainflow[reports]'" in caught.value.message
        assert isinstance(caught.value.__cause__, ModuleNotFoundError)

    def test_a_missing_dependency_of_an_installed_package_is_not_translated(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Our module is there but what it imports is not: a broken install, not the extra.
        hide_modules(monkeypatch, "redis")
        monkeypatch.delitem(sys.modules, "chainflow.storage.redis_connection", raising=False)
        with pytest.raises(ModuleNotFoundError) as caught:
            import_optional("chainflow.storage.redis_connection", extra="redis", purpose="a test")
        assert not isinstance(caught.value, MissingExtraError)
        assert caught.value.name == "redis"


class TestLoadBackend:
    def test_returns_the_attribute_of_our_backend_module(self) -> None:
        loaded = load_backend(
            "chainflow.core.errors", "NotFound", library="chainflow", extra="x", purpose="t"
        )
        assert loaded.__name__ == "NotFound"

    def test_a_backend_whose_driver_is_missing_names_the_extra(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        hide_modules(monkeypatch, "redis")
        monkeypatch.delitem(sys.modules, "chainflow.storage.cache.redis_cache", raising=False)
        monkeypatch.delitem(sys.modules, "chainflow.storage.redis_connection", raising=False)
        with pytest.raises(MissingExtraError, match=r"pip install 'chainflow\[redis\]'"):
            load_backend(
                "chainflow.storage.cache.redis_cache",
                "RedisCache",
                library="redis",
                extra="redis",
                purpose="cache URL 'redis://h'",
            )


class TestRequireInstalled:
    def test_an_installed_package_passes(self) -> None:
        require_installed("json", extra="x", purpose="a test")

    def test_an_absent_package_names_the_extra(self) -> None:
        with pytest.raises(MissingExtraError) as caught:
            require_installed("no_such_package_cf15", extra="chdb", purpose="a chDB store")
        assert caught.value.message == (
            "a chDB store needs the no_such_package_cf15 package, which is not installed; "
            "install it with: pip install 'chainflow[chdb]'"
        )

    def test_a_package_refused_by_an_import_hook_counts_as_absent(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        hide_modules(monkeypatch, "optuna")
        with pytest.raises(MissingExtraError, match="optuna"):
            require_installed("optuna", extra="optimize", purpose="Bayesian search")
