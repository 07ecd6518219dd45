import io
import json
import logging

import pytest

from chainflow.core.logging import (
    bind_request_context,
    clear_request_context,
    configure_logging,
    get_logger,
    redact,
    redact_url,
)


@pytest.fixture
def log_stream() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    yield stream
    clear_request_context()
    logging.getLogger().handlers.clear()


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


class TestRedactUrl:
    def test_password_is_masked(self) -> None:
        assert (
            redact_url("postgresql+asyncpg://app:s3cret@db:5432/cf")
            == "postgresql+asyncpg://app:***@db:5432/cf"
        )

    def test_url_without_password_is_unchanged(self) -> None:
        assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


class TestRedact:
    def test_secret_named_keys_and_nested_values_are_masked(self) -> None:
        out = redact({"password": "p", "nested": {"api_key": "k", "ok": 1}, "token": "t"})
        assert out == {"password": "***", "nested": {"api_key": "***", "ok": 1}, "token": "***"}


class TestStructuredLogging:
    def test_lines_are_json_with_bound_context(self, log_stream: io.StringIO) -> None:
        bind_request_context(request_id="r-1", tenant_id="t-1", service="gateway")
        get_logger("test").info("something_happened", symbol="EURUSD")
        [line] = _lines(log_stream)
        assert line["event"] == "something_happened"
        assert line["request_id"] == "r-1"
        assert line["tenant_id"] == "t-1"
        assert line["service"] == "gateway"
        assert line["symbol"] == "EURUSD"
        assert line["level"] == "info"

    def test_secrets_never_reach_the_log(self, log_stream: io.StringIO) -> None:
        log = get_logger("test")
        log.info("connecting", url="postgresql://app:hunter22@db/cf", password="hunter22")
        logging.getLogger("stdlib").warning("dsn %s", "redis://:hunter22@cache:6379")
        text = log_stream.getvalue()
        assert "hunter22" not in text
        assert "***" in text


class TestConsoleFormat:
    def test_tracebacks_never_show_local_variables(self) -> None:
        stream = io.StringIO()
        configure_logging("INFO", "console", stream=stream)
        try:
            bearer_token = "eyJhbGciOi-secret-token-value"  # noqa: F841 (a local in the frame)
            raise RuntimeError("boom")
        except RuntimeError:
            get_logger("test").exception("request_failed")
        finally:
            logging.getLogger().handlers.clear()
        text = stream.getvalue()
        assert "RuntimeError: boom" in text
        assert "secret-token-value" not in text


class TestQueryStringSecrets:
    def test_api_keys_and_tokens_in_query_strings_are_masked(self, log_stream: io.StringIO) -> None:
        logging.getLogger("uvicorn.error").info(
            '%s - "WebSocket %s" [accepted]', "127.0.0.1:1", "/ws/ticks?api_key=cfk_abc_SECRET1"
        )
        get_logger("test").info("redirect", url="https://x/cb?access_token=SECRET2&state=ok")
        text = log_stream.getvalue()
        assert "SECRET1" not in text and "SECRET2" not in text
        assert "api_key=***" in text and "state=ok" in text
