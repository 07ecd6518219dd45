from chainflow.core.errors import (
    ChainflowError,
    Conflict,
    DependencyUnavailable,
    InvalidInput,
    NotFound,
    ProtocolError,
    RateLimited,
)


class TestErrorHierarchy:
    def test_each_policy_class_has_code_and_status(self) -> None:
        assert (InvalidInput.code, InvalidInput.status) == ("invalid_input", 422)
        assert (ProtocolError.code, ProtocolError.status) == ("protocol_error", 400)
        assert (NotFound.status, Conflict.status) == (404, 409)
        assert DependencyUnavailable.retryable and DependencyUnavailable.status == 503

    def test_payload_has_design_shape(self) -> None:
        err = NotFound("symbol XAUUSD was not found", details={"symbol": "XAUUSD"})
        assert err.to_payload() == {
            "error": {
                "code": "not_found",
                "message": "symbol XAUUSD was not found",
                "details": {"symbol": "XAUUSD"},
            }
        }

    def test_rate_limited_carries_retry_after(self) -> None:
        err = RateLimited("too many requests", retry_after_s=1.5)
        assert isinstance(err, ChainflowError) and err.retry_after_s == 1.5
