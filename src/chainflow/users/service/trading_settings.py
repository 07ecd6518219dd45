"""Tenant trading settings: read (defaults until stored) and replace."""

from __future__ import annotations

from chainflow.core.auth import Principal
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import UnitOfWork
from chainflow.users.api import RiskTolerance, TradingSettings
from chainflow.users.models import TenantTradingSettings
from chainflow.users.repository import TradingSettingsRepository
from chainflow.users.trading_rules import (
    TradingSettingsUpdate,
    build_trading_settings,
    default_trading_settings,
)


def _settings(row: TenantTradingSettings) -> TradingSettings:
    return TradingSettings(
        risk_tolerance=RiskTolerance(row.risk_tolerance),
        max_risk_per_trade_pct=row.max_risk_per_trade_pct,
        max_daily_loss_pct=row.max_daily_loss_pct,
        max_drawdown_pct=row.max_drawdown_pct,
        default_lot_size=row.default_lot_size,
        allowed_symbols=tuple(row.allowed_symbols),
        leverage=row.leverage,
    )


class TradingSettingsService:
    """Read and replace a tenant's trading settings. Never commits."""

    async def get(self, uow: UnitOfWork, tenant: TenantContext) -> TradingSettings:
        """Return the tenant's settings, or the moderate defaults when none are stored."""
        row = await TradingSettingsRepository(uow.session, tenant).get_current()
        return default_trading_settings() if row is None else _settings(row)

    async def replace(
        self, uow: UnitOfWork, principal: Principal, update: TradingSettingsUpdate
    ) -> TradingSettings:
        """Validate ``update`` (missing fields take the tolerance's defaults) and store it."""
        settings = build_trading_settings(update)
        repository = TradingSettingsRepository(uow.session, principal.tenant)
        row = await repository.get_current()
        if row is None:
            row = await repository.add_first(
                TenantTradingSettings(
                    risk_tolerance=settings.risk_tolerance.value,
                    max_risk_per_trade_pct=settings.max_risk_per_trade_pct,
                    max_daily_loss_pct=settings.max_daily_loss_pct,
                    max_drawdown_pct=settings.max_drawdown_pct,
                    default_lot_size=settings.default_lot_size,
                    allowed_symbols=list(settings.allowed_symbols),
                    leverage=settings.leverage,
                    updated_by=principal.user_id,
                )
            )
        else:
            row.risk_tolerance = settings.risk_tolerance.value
            row.max_risk_per_trade_pct = settings.max_risk_per_trade_pct
            row.max_daily_loss_pct = settings.max_daily_loss_pct
            row.max_drawdown_pct = settings.max_drawdown_pct
            row.default_lot_size = settings.default_lot_size
            row.allowed_symbols = list(settings.allowed_symbols)
            row.leverage = settings.leverage
            row.updated_by = principal.user_id
        return _settings(row)
