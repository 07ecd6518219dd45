"""Each service's ``api.py`` is Protocols plus the data types and functions they take.

A concrete class exported from an ``api.py`` couples its consumers to one implementation;
services, repositories, registries, caches and stores are built by the runtime and handed
to consumers typed by a Protocol. What an ``api.py`` may still export as a concrete class is
listed here, each for its reason: pure computation (maths, state machines, a model bundle's
runner) that a consumer runs in its own process, or a hub building block a service composes.
A new concrete export fails this test until it becomes a Protocol or is added with a reason.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
from typing import is_typeddict

SERVICES = (
    "analytics",
    "backtest",
    "bridge",
    "features",
    "gateway",
    "hub",
    "ml",
    "notify",
    "risk",
    "storage",
    "trading",
    "users",
)

ALLOWED_CONCRETE: dict[str, dict[str, str]] = {
    "analytics": {"NoTrades": "a null source of trades (no I/O)"},
    "backtest": {
        "MlStrategy": "a strategy: computation over bars",
        "PredictionStrategy": "a strategy: computation over bars",
    },
    "bridge": {"SymbolNormalizer": "pure symbol-name mapping"},
    "features": {
        "ATR": "streaming maths",
        "FeatureEngine": "streaming maths (the live twin of feature_matrix)",
        "RegimeDetector": "streaming maths",
        "SymbolPipeline": "streaming maths: one key's features and regimes",
    },
    "hub": {
        "KeyedInput": "building block: a partitioned durable input a service composes",
        "PartitionOwner": "building block: partition leases a service composes",
    },
    "ml": {"ModelBundle": "an ONNX bundle's runner: computation on arrays"},
    "notify": {"NoAddresses": "a null AddressBook (no I/O)"},
    "risk": {"CircuitBreaker": "a pure state machine"},
    "trading": {
        "DefaultPreferences": "the built-in preferences (no I/O)",
        "ModelStrategy": "a strategy: computation over predictions",
    },
}


def _is_data_or_protocol(obj: type) -> bool:
    return bool(
        getattr(obj, "_is_protocol", False)
        or dataclasses.is_dataclass(obj)
        or is_typeddict(obj)
        or issubclass(obj, (enum.Enum, BaseException, tuple, dict, str, int, float))
    )


def concrete_exports(service: str) -> set[str]:
    module = importlib.import_module(f"chainflow.{service}.api")
    names = getattr(module, "__all__", [])
    return {
        name
        for name in names
        if inspect.isclass(obj := getattr(module, name, None)) and not _is_data_or_protocol(obj)
    }


def test_every_api_exports_protocols_data_and_the_listed_computations_only() -> None:
    found = {service: concrete_exports(service) for service in SERVICES}
    unexpected = {
        service: sorted(names - set(ALLOWED_CONCRETE.get(service, {})))
        for service, names in found.items()
        if names - set(ALLOWED_CONCRETE.get(service, {}))
    }
    assert unexpected == {}, (
        "api.py exports concrete classes: make each a Protocol (the runtime builds the "
        f"concrete one) or list it with its reason: {unexpected}"
    )
    stale = {
        service: sorted(set(allowed) - found[service])
        for service, allowed in ALLOWED_CONCRETE.items()
        if set(allowed) - found[service]
    }
    assert stale == {}, f"listed but no longer exported (drop them from the list): {stale}"


def test_services_registries_and_stores_are_not_exported() -> None:
    ml = importlib.import_module("chainflow.ml.api")
    for name in ("ModelRegistry", "ServedModels", "FallbackLog", "LocalArtifactStore"):
        assert name not in getattr(ml, "__all__", []), name
    assert "TradingService" not in importlib.import_module("chainflow.trading.api").__all__
    assert "DirectOutbox" not in importlib.import_module("chainflow.notify.api").__all__


def test_every_name_an_api_lists_can_be_imported() -> None:
    missing = {
        service: [
            name
            for name in getattr(module, "__all__", [])
            if not hasattr(module, name)  # a lazy name resolves through the module's __getattr__
        ]
        for service in SERVICES
        if (module := importlib.import_module(f"chainflow.{service}.api"))
    }
    assert {service: names for service, names in missing.items() if names} == {}
