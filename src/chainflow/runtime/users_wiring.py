"""Build the users service from the kernel, and serve its credential resolver on the bus."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chainflow.hub.api import Subscription
from chainflow.runtime.component import ServiceComponent
from chainflow.runtime.remote import serve_credential_resolver, serve_trading_settings
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
    kernel.users = service
    kernel.credential_resolver = resolver
    subscriptions: list[Subscription] = []

    async def start() -> None:
        subscriptions.extend(await serve_credential_resolver(infra.bus, resolver))
        subscriptions.append(await serve_trading_settings(infra.bus, infra.database, service))

    async def stop() -> None:
        while subscriptions:
            await subscriptions.pop().unsubscribe()

    return ServiceComponent(
        name="users",
        router=build_users_router(service=service, database=infra.database),
        on_start=start,
        on_stop=stop,
    )
