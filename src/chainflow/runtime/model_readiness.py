"""The ``models`` section of ``/ready``: which production model serves, or how to make one.

A fresh install serves signals only once a production model of ``CHAINFLOW_ML_MODEL``
exists; until then every tick's signal is a ``hold`` that says so. ``/ready`` says it too,
as information (the status stays ``ok``): ``{"name", "production": "<name@version>",
"timeframe"}``, or ``"production": null`` with a ``reason`` naming the command to run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chainflow.core.logging import get_logger
from chainflow.gateway.probes import ReadinessInfo
from chainflow.ml.api import ModelNotFoundError, model_registry, no_model_reason

if TYPE_CHECKING:
    from chainflow.runtime.kernel import Kernel

log = get_logger("chainflow.runtime.model_readiness")


def model_readiness(kernel: Kernel) -> ReadinessInfo:
    """Return the ``/ready`` section builder of the platform's served model."""

    async def models() -> Mapping[str, Any]:
        name = kernel.settings.ml.model
        section: dict[str, Any] = {"name": name}
        try:
            registry = model_registry(kernel.settings, kernel.infra.database, kernel.clock)
            async with kernel.infra.database.unit_of_work(system=True, read_only=True) as uow:
                version = await registry.production(uow, name)
        except ModelNotFoundError:  # never registered
            version = None
        except Exception as e:  # the database check above reports the cause
            log.warning("ready_models_unreadable", error=repr(e))
            return {
                "models": {
                    **section,
                    "production": None,
                    "reason": "the model registry could not be read",
                }
            }
        if version is None:
            return {"models": {**section, "production": None, "reason": no_model_reason(name)}}
        return {"models": {**section, "production": version.ref, "timeframe": version.timeframe}}

    return models
