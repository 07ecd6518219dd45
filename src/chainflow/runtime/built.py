"""The services this process built, and how the runtime hands them to the ones above.

The kernel builds services in layer order (``runtime.services``). Each builder returns a
``ServiceComponent`` whose ``parts`` name what it built (``{"trading": service}``); the
kernel records them here. The builder table then hands a later service exactly the parts
it needs as arguments (risk gets the trading service, notify the trading service and the
ml service's loaded models): no wiring module reads another service off the kernel, and a
service's dependencies are visible in one place, the table.

A part is ``None`` when its service does not run in this process; each wiring decides
what stands in for it (a flat account, models loaded from the registry, no trades).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from chainflow.core.errors import ConfigurationError

if TYPE_CHECKING:
    from chainflow.backtest.service import BacktestService
    from chainflow.bridge.service import BridgeService
    from chainflow.features.service import FeaturesService
    from chainflow.gateway.api import CredentialResolver
    from chainflow.hub.config import ConfigService
    from chainflow.ml.live.service import MlService
    from chainflow.notify.service import NotifyService
    from chainflow.risk.service import RiskService
    from chainflow.trading.service import TradingService
    from chainflow.users.service import UsersService


@dataclass(slots=True)
class BuiltServices:
    """What the builders of this process handed the kernel, each set once."""

    config: ConfigService | None = None
    users: UsersService | None = None
    credential_resolver: CredentialResolver | None = None
    bridge: BridgeService | None = None
    features: FeaturesService | None = None
    ml: MlService | None = None
    trading: TradingService | None = None
    risk: RiskService | None = None
    backtest: BacktestService | None = None
    notify: NotifyService | None = None

    def record(self, service: str, parts: Mapping[str, object]) -> None:
        """Record the parts ``service``'s builder handed over; each part is set once."""
        known = {f.name for f in fields(self)}
        for name, part in parts.items():
            if name not in known:
                raise ConfigurationError(
                    f"service {service!r} handed an unknown part {name!r}; "
                    f"expected one of {', '.join(sorted(known))}"
                )
            if getattr(self, name) is not None:
                raise ConfigurationError(f"part {name!r} was already handed over")
            setattr(self, name, part)
