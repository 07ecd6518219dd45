"""The table of the twelve services (DESIGN.md section 1): name, layer, role, how to build."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chainflow.core.errors import ConfigurationError
from chainflow.runtime.component import ServiceComponent

if TYPE_CHECKING:
    from chainflow.runtime.built import BuiltServices
    from chainflow.runtime.kernel import Kernel

# A builder gets the kernel's infrastructure and settings, and the services built before
# it (lower layers first); it hands each wiring module exactly the parts that module needs.
Builder = Callable[["Kernel", "BuiltServices"], ServiceComponent]


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One service of the platform and how this process builds it."""

    name: str
    layer: int
    role: str
    owns: str
    build: Builder | None = None
    models: str | None = None  # module holding its SQLAlchemy tables, imported before migrations
    # Where its routes live, so a gateway in another process can route to it.
    route_prefixes: tuple[str, ...] = ()
    planned_in: str | None = None  # where a service without behaviour yet gets it

    @property
    def has_behaviour(self) -> bool:
        return self.build is not None


def _build_gateway(_kernel: Kernel, _built: BuiltServices) -> ServiceComponent:
    # The gateway is the HTTP app itself (runtime.app); it has no router of its own yet.
    return ServiceComponent(name="gateway")


def _build_storage(_kernel: Kernel, _built: BuiltServices) -> ServiceComponent:
    # Engines and stores are infrastructure the kernel builds for everyone.
    return ServiceComponent(name="storage")


def _build_bridge(kernel: Kernel, _built: BuiltServices) -> ServiceComponent:
    from chainflow.runtime.bridge_wiring import build_bridge_component

    return build_bridge_component(kernel)


def _build_features(kernel: Kernel, _built: BuiltServices) -> ServiceComponent:
    from chainflow.runtime.features_wiring import build_features_component

    return build_features_component(kernel)


def _build_ml(kernel: Kernel, _built: BuiltServices) -> ServiceComponent:
    from chainflow.runtime.ml_wiring import build_ml_component

    return build_ml_component(kernel)


def _build_trading(kernel: Kernel, built: BuiltServices) -> ServiceComponent:
    from chainflow.runtime.trading_wiring import build_trading_component

    ml_models = built.ml.models if built.ml is not None else None
    return build_trading_component(kernel, ml_models=ml_models)


def _build_risk(kernel: Kernel, built: BuiltServices) -> ServiceComponent:
    from chainflow.runtime.risk_wiring import build_risk_component

    return build_risk_component(kernel, trading=built.trading)


def _build_backtest(kernel: Kernel, _built: BuiltServices) -> ServiceComponent:
    from chainflow.runtime.backtest_wiring import build_backtest_component

    return build_backtest_component(kernel)


def _build_users(kernel: Kernel, _built: BuiltServices) -> ServiceComponent:
    from chainflow.runtime.users_wiring import build_users_component

    return build_users_component(kernel)


def _build_notify(kernel: Kernel, built: BuiltServices) -> ServiceComponent:
    from chainflow.runtime.notify_wiring import build_notify_component

    models = built.ml.models if built.ml is not None else None
    return build_notify_component(kernel, trading=built.trading, models=models)


def _build_analytics(kernel: Kernel, built: BuiltServices) -> ServiceComponent:
    from chainflow.runtime.analytics_wiring import build_analytics_component

    return build_analytics_component(
        kernel, trading=built.trading, ml=built.ml, notify=built.notify
    )


def _build_hub(kernel: Kernel, _built: BuiltServices) -> ServiceComponent:
    from chainflow.runtime.hub_wiring import build_hub_component

    return build_hub_component(kernel)


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "gateway",
        1,
        "api-gateway",
        "HTTP/WS entry, auth, per-tier rate limits, routing",
        _build_gateway,
    ),
    ServiceSpec(
        "hub",
        1,
        "central-hub",
        "registry and discovery, health, config distribution, the bus",
        _build_hub,
        models="chainflow.hub.models",
        route_prefixes=("/api/v1/hub",),
    ),
    ServiceSpec(
        "storage",
        1,
        "database-service",
        "engines, pools, migrations, store backends",
        _build_storage,
    ),
    ServiceSpec(
        "bridge",
        2,
        "data-bridge",
        "MT5 ingestion, tick validation, fan-out, metering",
        _build_bridge,
        models="chainflow.bridge.models",
        route_prefixes=("/api/v1/market",),  # /ws/ticks is served where the bridge runs
    ),
    ServiceSpec(
        "features",
        2,
        "feature-engineering",
        "indicators, feature sets, correlation, regimes",
        _build_features,
        route_prefixes=("/api/v1/features",),
    ),
    ServiceSpec(
        "ml",
        2,
        "ml-processing",
        "datasets, training, registry, ONNX inference",
        _build_ml,
        models="chainflow.ml.models",
        route_prefixes=("/api/v1/models", "/api/v1/patterns"),
    ),
    ServiceSpec(
        "trading",
        3,
        "trading-engine",
        "decisions, signals, paper portfolio",
        _build_trading,
        models="chainflow.trading.models",
        route_prefixes=("/api/v1/signals", "/api/v1/trading"),
    ),
    ServiceSpec(
        "risk",
        3,
        "risk-management",
        "VaR, sizing, limits, drawdown guards",
        _build_risk,
        route_prefixes=("/api/v1/risk",),
    ),
    ServiceSpec(
        "backtest",
        3,
        "backtesting-engine",
        "simulation, optimization, walk-forward",
        _build_backtest,
        models="chainflow.backtest.models",
        route_prefixes=("/api/v1/backtests",),
    ),
    ServiceSpec(
        "users",
        4,
        "user-management",
        "tenants, users, roles, tiers, API keys, billing",
        _build_users,
        models="chainflow.users.models",
        route_prefixes=(
            "/api/v1/auth",
            "/api/v1/users",
            "/api/v1/me",
            "/api/v1/api-keys",
            "/api/v1/tenant",
            "/api/v1/admin",
            "/api/v1/billing",
        ),
    ),
    ServiceSpec(
        "notify",
        4,
        "notification-hub",
        "channels, templates, delivery outbox",
        _build_notify,
        models="chainflow.notify.models",
        route_prefixes=("/api/v1/notifications",),
    ),
    ServiceSpec(
        "analytics",
        4,
        "analytics-service",
        "dashboards, reports, exports",
        _build_analytics,
        models="chainflow.analytics.reports.models",
        route_prefixes=("/api/v1/analytics", "/api/v1/admin/analytics"),
    ),
)

SERVICE_NAMES: tuple[str, ...] = tuple(s.name for s in SERVICES)


def resolve_services(selection: str | Sequence[str]) -> tuple[ServiceSpec, ...]:
    """Return the specs named by ``selection`` ("all" or names) in layer order."""
    names = (
        [n.strip().lower() for n in selection.split(",") if n.strip()]
        if isinstance(selection, str)
        else [n.strip().lower() for n in selection]
    )
    if not names or names == ["all"]:
        return SERVICES
    unknown = sorted(set(names) - set(SERVICE_NAMES))
    if unknown:
        raise ConfigurationError(
            f"services must be 'all' or names from {', '.join(SERVICE_NAMES)}; "
            f"received unknown {', '.join(unknown)}"
        )
    chosen = set(names)
    return tuple(s for s in SERVICES if s.name in chosen)
