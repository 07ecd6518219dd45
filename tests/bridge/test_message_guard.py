"""One failed WebSocket message is answered with an error frame and logged once."""

from __future__ import annotations

from structlog.testing import capture_logs

from chainflow.bridge.message_guard import MessageGuard
from chainflow.core.errors import DependencyUnavailable


class TestAnswer:
    def test_a_bug_is_answered_internal_error_and_its_traceback_logged_once(self) -> None:
        guard = MessageGuard("/ws/ticks", "c1", "t1")
        with capture_logs() as logs:
            frames = [guard.answer(KeyError("boom")) for _ in range(3)]
            guard.close()
        assert {f["code"] for f in frames} == {"internal_error"}
        assert all(f["type"] == "error" and f["seq"] is None for f in frames)
        assert [(e["event"], e["log_level"]) for e in logs] == [
            ("websocket_message_failed", "error"),
            ("websocket_message_failures", "error"),
        ]
        assert isinstance(logs[0]["exc_info"], KeyError) and logs[1]["failures"] == 3
        assert logs[0]["endpoint"] == "/ws/ticks" and logs[0]["connection"] == "c1"

    def test_an_expected_error_keeps_its_code_and_is_no_failure(self) -> None:
        guard = MessageGuard("/ws/stream", "c2", "t1")
        with capture_logs() as logs:
            frame = guard.answer(DependencyUnavailable("the time-series store is down"), seq=4)
            guard.close()
        assert frame == {
            "type": "error",
            "code": "dependency_unavailable",
            "message": "the time-series store is down",
            "seq": 4,
        }
        assert guard.failures == 0
        assert [(e["event"], e["log_level"]) for e in logs] == [
            ("websocket_message_refused", "warning")
        ]
