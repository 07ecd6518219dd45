"""What ``chainflow serve`` checks before it binds: the development key stays on loopback."""

from __future__ import annotations

import pytest

from chainflow.core.errors import ConfigurationError
from chainflow.core.settings import Settings
from chainflow.runtime.server import DEV_KEY_WARNING, check_serving_key, is_loopback_host


class TestIsLoopbackHost:
    @pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
    def test_loopback_addresses(self, host: str) -> None:
        assert is_loopback_host(host)

    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "example.com", ""])
    def test_other_addresses(self, host: str) -> None:
        assert not is_loopback_host(host)


class TestCheckServingKey:
    def test_dev_key_on_loopback_warns(self) -> None:
        assert check_serving_key(Settings(), "127.0.0.1") == DEV_KEY_WARNING

    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])
    def test_dev_key_beyond_loopback_is_refused(self, host: str) -> None:
        with pytest.raises(ConfigurationError, match="expected a loopback --host") as refused:
            check_serving_key(Settings(), host)
        assert repr(host) in refused.value.message

    def test_a_set_key_serves_anywhere_without_warning(self) -> None:
        assert check_serving_key(Settings(secret_key="k" * 40), "0.0.0.0") is None
