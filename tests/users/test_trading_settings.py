"""Tenant trading settings: defaults by risk tolerance, validated ranges, and their codes."""

from __future__ import annotations

from typing import Any

import pytest

from chainflow.users.api import RiskTolerance
from chainflow.users.errors import InvalidTradingSettingsError
from chainflow.users.trading_rules import (
    DEFAULTS,
    TradingSettingsUpdate,
    build_trading_settings,
)
from tests.users.conftest import UsersHarness, error_code

PATH = "/api/v1/tenant/trading-settings"


def problems(update: TradingSettingsUpdate) -> list[dict[str, str]]:
    with pytest.raises(InvalidTradingSettingsError) as raised:
        build_trading_settings(update)
    return list(raised.value.details)


class TestBuildTradingSettings:
    @pytest.mark.parametrize("tolerance", list(RiskTolerance))
    def test_missing_fields_take_the_tolerance_defaults(self, tolerance: RiskTolerance) -> None:
        built = build_trading_settings(TradingSettingsUpdate(risk_tolerance=tolerance.value))
        defaults = DEFAULTS[tolerance]
        assert built.max_risk_per_trade_pct == defaults.max_risk_per_trade_pct
        assert built.leverage == defaults.leverage and built.is_default is False

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("max_risk_per_trade_pct", 0.001),
            ("max_risk_per_trade_pct", 10.5),
            ("max_daily_loss_pct", 0.05),
            ("max_daily_loss_pct", 51.0),
            ("max_drawdown_pct", 0.5),
            ("max_drawdown_pct", 91.0),
            ("default_lot_size", 0.004),
            ("default_lot_size", 100.5),
            ("leverage", 0),
            ("leverage", 501),
            ("max_drawdown_pct", float("nan")),
        ],
    )
    def test_out_of_range_names_field_range_and_value(self, field: str, value: float) -> None:
        update = TradingSettingsUpdate(risk_tolerance="moderate", **{field: value})
        (problem,) = problems(update)
        assert problem["field"] == field and problem["code"] == "out_of_range"
        assert "must be between" in problem["message"] and "received" in problem["message"]

    def test_lot_size_is_rounded_to_the_step(self) -> None:
        built = build_trading_settings(
            TradingSettingsUpdate(risk_tolerance="moderate", default_lot_size=0.126)
        )
        assert built.default_lot_size == 0.13

    def test_symbols_are_upper_cased_and_de_duplicated(self) -> None:
        built = build_trading_settings(
            TradingSettingsUpdate(
                risk_tolerance="moderate", allowed_symbols=[" eurusd ", "EURUSD", "xauusd.a"]
            )
        )
        assert built.allowed_symbols == ("EURUSD", "XAUUSD.A")
        assert built.allows_symbol("xauusd.a") and not built.allows_symbol("GBPUSD")

    def test_bad_symbols_are_reported_by_index(self) -> None:
        update = TradingSettingsUpdate(
            risk_tolerance="moderate", allowed_symbols=["EURUSD", "EUR/USD", "", "X" * 33]
        )
        assert [(p["field"], p["code"]) for p in problems(update)] == [
            ("allowed_symbols[1]", "invalid_symbol"),
            ("allowed_symbols[2]", "invalid_symbol"),
            ("allowed_symbols[3]", "invalid_symbol"),
        ]

    def test_daily_loss_below_risk_per_trade_is_inconsistent(self) -> None:
        update = TradingSettingsUpdate(
            risk_tolerance="moderate", max_risk_per_trade_pct=5.0, max_daily_loss_pct=2.0
        )
        (problem,) = problems(update)
        assert problem["code"] == "inconsistent_limits"

    def test_unknown_tolerance_is_reported_with_other_problems(self) -> None:
        update = TradingSettingsUpdate(risk_tolerance="yolo", leverage=1000)
        assert [p["code"] for p in problems(update)] == ["invalid_risk_tolerance", "out_of_range"]


class TestTradingSettingsRoutes:
    async def test_defaults_until_stored_then_the_stored_values(self, users: UsersHarness) -> None:
        owner = await users.signup("rick@example.com")
        initial = (await users.client.get(PATH, headers=owner.headers)).json()
        assert initial["risk_tolerance"] == "moderate" and initial["is_default"] is True
        body: dict[str, Any] = {
            "risk_tolerance": "conservative",
            "max_risk_per_trade_pct": 0.25,
            "allowed_symbols": ["eurusd", "gbpusd"],
        }
        stored = await users.client.put(PATH, json=body, headers=owner.headers)
        assert stored.status_code == 200
        expected = {
            "risk_tolerance": "conservative",
            "max_risk_per_trade_pct": 0.25,
            "max_daily_loss_pct": 2.0,
            "max_drawdown_pct": 10.0,
            "default_lot_size": 0.01,
            "allowed_symbols": ["EURUSD", "GBPUSD"],
            "leverage": 10,
            "is_default": False,
        }
        assert stored.json() == expected
        assert (await users.client.get(PATH, headers=owner.headers)).json() == expected
        replaced = await users.client.put(
            PATH, json={"risk_tolerance": "aggressive"}, headers=owner.headers
        )
        assert replaced.json()["leverage"] == 200 and replaced.json()["allowed_symbols"] == []

    async def test_invalid_values_answer_with_codes_per_field(self, users: UsersHarness) -> None:
        owner = await users.signup("sam@example.com")
        response = await users.client.put(
            PATH,
            json={"risk_tolerance": "moderate", "leverage": 900, "allowed_symbols": ["EUR USD"]},
            headers=owner.headers,
        )
        assert response.status_code == 422 and error_code(response) == "invalid_trading_settings"
        details = response.json()["error"]["details"]
        assert [(d["field"], d["code"]) for d in details] == [
            ("leverage", "out_of_range"),
            ("allowed_symbols[0]", "invalid_symbol"),
        ]

    async def test_wrong_types_and_unknown_fields_are_invalid_input(
        self, users: UsersHarness
    ) -> None:
        owner = await users.signup("tom@example.com")
        for body in (
            {"risk_tolerance": "moderate", "leverage": "lots"},
            {"risk_tolerance": "moderate", "stop_everything": True},
        ):
            response = await users.client.put(PATH, json=body, headers=owner.headers)
            assert response.status_code == 422 and error_code(response) == "invalid_input"
