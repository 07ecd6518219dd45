"""Build the users service from the kernel, and serve its credential resolver on the bus."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import httpx

from chainflow.hub.api import Subscription
from chainflow.runtime.billing_usage import MeteredUsage
from chainflow.runtime.component import ServiceComponent
from chainflow.runtime.remote import serve_credential_resolver, serve_trading_settings
from chainflow.users.billing.routes import build_billing_router
from chainflow.users.billing.service import build_billing_service
from chainflow.users.billing.sweep import run_sweeps
from chainflow.users.resolver import UsersCredentialResolver
from chainflow.users.routes import build_users_router
from chainflow.users.service import build_users_service

if TYPE_CHECKING:
    from chainflow.runtime.kernel import Kernel


def build_users_component(kernel: Kernel) -> ServiceComponent:
    infra = kernel.infra
    settings = kernel.settings
    service = build_users_service(
        auth=settings.auth,
        requires_email_verification=settings.requires_email_verification,
        clock=kernel.clock,
        bus=infra.bus,
        access_tokens=kernel.access_tokens,
        cache=infra.cache,
        # The same cache entries the gateway's Authenticator reads, in every process.
        invalidate_session=kernel.principal_cache.invalidate_session,
        invalidate_api_key=kernel.principal_cache.invalidate_api_key,
    )
    resolver = UsersCredentialResolver(database=infra.database, clock=kernel.clock)
    billing_http = httpx.AsyncClient()
    billing = build_billing_service(
        settings=settings.billing,
        clock=kernel.clock,
        bus=infra.bus,
        database=infra.database,
        change_tier=service.admin.change_tier,
        read_tier=service.admin.get_tenant,
        customer_of=service.accounts.get_profile,
        http=billing_http,
        usage=MeteredUsage(database=infra.database, timeseries=infra.timeseries),
    )
    subscriptions: list[Subscription] = []
    sweeps: list[asyncio.Task[None]] = []

    async def start() -> None:
        subscriptions.extend(await serve_credential_resolver(infra.bus, resolver))
        subscriptions.append(await serve_trading_settings(infra.bus, infra.database, service))
        interval_s = settings.billing.sweep_interval_s
        if interval_s > 0:
            sweeper = run_sweeps(infra.database, billing, kernel.clock, interval_s)
            sweeps.append(asyncio.create_task(sweeper, name="users.sweep_subscriptions"))

    async def stop() -> None:
        while sweeps:
            task = sweeps.pop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while subscriptions:
            await subscriptions.pop().unsubscribe()
        await billing_http.aclose()

    router = build_users_router(
        service=service,
        database=infra.database,
        reveal_verification_token=settings.env != "prod",
    )
    router.include_router(build_billing_router(billing, infra.database, kernel.clock))

    return ServiceComponent(
        name="users",
        router=router,
        on_start=start,
        on_stop=stop,
        parts={"users": service, "credential_resolver": resolver},
    )
