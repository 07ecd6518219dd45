"""Static checks that the local objects the runtime hands out satisfy the ``api`` Protocols.

Services type what they use of another service with that service's Protocol (``TradingApi``,
``ServedModelSource``, ``UsersAdminApi``, ...), so mypy checks their calls against the
Protocol only. These functions, read by mypy and never called, make it check the other
side too: each concrete object the runtime passes matches the Protocol it is passed as.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chainflow.ml.api import ModelCatalog, ServedModelSource
    from chainflow.ml.live.model_cache import ServedModels
    from chainflow.ml.registry.model_registry import ModelRegistry
    from chainflow.ml.training.command import TrainingKernel
    from chainflow.runtime.kernel import Kernel
    from chainflow.trading.api import TradingApi
    from chainflow.trading.service import TradingService
    from chainflow.users.api import UsersAdminApi, UsersApi
    from chainflow.users.overview import LocalUsersApi
    from chainflow.users.service import UsersService


def trading_api(service: TradingService) -> TradingApi:
    return service


def served_models(models: ServedModels) -> ServedModelSource:
    return models


def users_admin_api(service: UsersService) -> UsersAdminApi:
    return service


def users_api(local: LocalUsersApi) -> UsersApi:
    return local


def training_kernel(kernel: Kernel) -> TrainingKernel:
    return kernel


def model_catalog(registry: ModelRegistry) -> ModelCatalog:
    return registry
