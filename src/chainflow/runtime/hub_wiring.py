"""Build the hub service from the kernel's infrastructure."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from chainflow.hub.api import LeaseStore, Membership, open_leases
from chainflow.hub.config import ConfigService, builtin_config_keys
from chainflow.hub.health import ClusterHealth
from chainflow.hub.routes import build_hub_router
from chainflow.runtime.component import ServiceComponent

if TYPE_CHECKING:
    from chainflow.runtime.kernel import Kernel


def _apply_log_level(level: Any) -> None:
    logging.getLogger().setLevel(str(level))


def replica_membership(kernel: Kernel) -> tuple[Membership, LeaseStore]:
    """This process's membership among the replicas of a partitioned service: peers from
    the registry, partition leases next to it (Redis at scale), renewed on the registry's
    heartbeat and as long-lived. The caller closes the leases when its service stops."""
    settings = kernel.settings
    leases = open_leases(settings.cache.url, kernel.clock, settings.cache.key_prefix)
    membership = Membership(
        registry=kernel.infra.registry,
        leases=leases,
        instance_id=kernel.instance_id,
        interval_s=settings.hub.heartbeat_interval_s,
        lease_ttl_s=settings.hub.instance_ttl_s,
    )
    return membership, leases


def build_hub_component(kernel: Kernel) -> ServiceComponent:
    infra = kernel.infra
    config = ConfigService(
        settings=kernel.settings,
        database=infra.database,
        bus=infra.bus,
        clock=kernel.clock,
        keys=builtin_config_keys(apply_log_level=_apply_log_level),
    )
    cluster_health = ClusterHealth(
        registry=infra.registry,
        local_instance_id=kernel.instance_id,
        local_readiness=kernel.readiness,
        clock=kernel.clock,
        http_client=kernel.http_client,
    )
    return ServiceComponent(
        name="hub",
        router=build_hub_router(registry=infra.registry, cluster_health=cluster_health),
        on_start=config.start,
        on_stop=config.stop,
        parts={"config": config},
    )
