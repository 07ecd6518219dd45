"""Where the risk service gets a tenant's limits, and the per-tier caps it adds to them.

The percentages (per-trade risk, daily loss, drawdown) and the leverage belong to the
tenant's trading settings, owned by the users service a layer above; risk asks through
``RiskSettingsSource``, which the runtime implements over bus request/reply
(``runtime.remote.BusRiskSettings``). The caps that depend on the subscription are a table
here, keyed by ``principal.tier``:

=========== ================== ===================
tier        max open positions max lots per symbol
=========== ================== ===================
free        3                  2
pro         10                 20
enterprise  50                 100
=========== ================== ===================

The correlated-exposure cap is a share of the account's buying power:
``equity * leverage * CORRELATED_EXPOSURE_SHARE`` of notional in one group of symbols whose
return correlation exceeds ``CORRELATION_THRESHOLD`` (the same symbol always counts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from chainflow.core.auth import Tier
from chainflow.risk.errors import InvalidRiskInputError
from chainflow.risk.limits import RiskLimits

CORRELATED_EXPOSURE_SHARE = 0.5
CORRELATION_THRESHOLD = 0.7


@dataclass(frozen=True, slots=True)
class TierRiskCaps:
    """Caps of one subscription tier: open positions and gross lots on one symbol."""

    max_open_positions: int
    max_symbol_exposure_lots: float


TIER_RISK_CAPS: Mapping[Tier, TierRiskCaps] = MappingProxyType(
    {
        Tier.FREE: TierRiskCaps(max_open_positions=3, max_symbol_exposure_lots=2.0),
        Tier.PRO: TierRiskCaps(max_open_positions=10, max_symbol_exposure_lots=20.0),
        Tier.ENTERPRISE: TierRiskCaps(max_open_positions=50, max_symbol_exposure_lots=100.0),
    }
)


@dataclass(frozen=True, slots=True)
class TenantRiskSettings:
    """A tenant's risk settings (percent of equity) and account leverage.

    The defaults are those of the users service's ``moderate`` risk tolerance; a tenant gets
    them when the users service cannot be asked.
    """

    max_risk_per_trade_pct: float = 1.0
    max_daily_loss_pct: float = 5.0
    max_drawdown_pct: float = 20.0
    leverage: int = 50

    def __post_init__(self) -> None:
        for name in ("max_risk_per_trade_pct", "max_daily_loss_pct", "max_drawdown_pct"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value <= 100):
                raise InvalidRiskInputError(f"expected {name} in (0, 100]; received {value}")
        if self.leverage < 1:
            raise InvalidRiskInputError(f"expected leverage >= 1; received {self.leverage}")


class RiskSettingsSource(Protocol):
    """Answers a tenant's risk settings (the users service's, over the bus at scale)."""

    async def risk_settings(self, tenant_id: str) -> TenantRiskSettings:
        """Return the tenant's settings (the defaults when it never stored any)."""
        ...


class DefaultRiskSettings:
    """Every tenant gets ``settings`` (the moderate defaults unless told otherwise)."""

    def __init__(self, settings: TenantRiskSettings | None = None) -> None:
        self._settings = settings or TenantRiskSettings()

    async def risk_settings(self, tenant_id: str) -> TenantRiskSettings:
        """Return the same settings for every tenant."""
        return self._settings


def tier_caps(tier: Tier | str) -> TierRiskCaps:
    """Return the caps of ``tier`` (a ``Tier`` or its value)."""
    try:
        return TIER_RISK_CAPS[Tier(tier)]
    except ValueError as e:
        names = ", ".join(t.value for t in Tier)
        raise InvalidRiskInputError(f"expected a tier one of {names}; received {tier!r}") from e


def limits_for(settings: TenantRiskSettings, tier: Tier | str, equity: float) -> RiskLimits:
    """Return the ``RiskLimits`` of a tenant: its settings, its tier's caps, its equity."""
    caps = tier_caps(tier)
    buying_power = max(equity, 0.0) * settings.leverage
    return RiskLimits(
        max_risk_per_trade_pct=settings.max_risk_per_trade_pct,
        max_open_positions=caps.max_open_positions,
        max_symbol_exposure_lots=caps.max_symbol_exposure_lots,
        max_correlated_exposure=buying_power * CORRELATED_EXPOSURE_SHARE,
        max_daily_loss_pct=settings.max_daily_loss_pct,
        max_drawdown_pct=settings.max_drawdown_pct,
        correlation_threshold=CORRELATION_THRESHOLD,
    )
