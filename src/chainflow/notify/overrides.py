"""A tenant's template overrides: stored per (kind, channel, locale), checked when saved.

An override is refused (422 ``notification_template_invalid``, naming the error) unless it
renders with the kind's sample data in the hub's sandbox; intake reads a tenant's
overrides of an event's kind once per event (``for_kind``).
"""

from __future__ import annotations

from collections.abc import Mapping

from chainflow.core.auth import Principal
from chainflow.core.tenancy import TenantContext
from chainflow.notify.errors import TemplateOverrideNotFoundError
from chainflow.notify.models import NotificationTemplate
from chainflow.notify.schemas import TemplateOverridePut, TemplateOverrideRead
from chainflow.notify.templates import TemplateOverride, TemplateRenderer
from chainflow.storage.relational import Database, TenantRepository

__all__ = ["OverrideKey", "TemplateOverrideRepository", "TemplateOverrides"]

OverrideKey = tuple[str, str]
"""(channel, locale) of one override of a kind."""


class TemplateOverrideRepository(TenantRepository[NotificationTemplate]):
    async def for_kind(self, kind: str) -> list[NotificationTemplate]:
        statement = (
            self._select()
            .where(NotificationTemplate.kind == kind)
            .order_by(NotificationTemplate.channel, NotificationTemplate.locale)
        )
        return list((await self.session.execute(statement)).scalars().all())

    async def one(self, kind: str, channel: str, locale: str) -> NotificationTemplate | None:
        statement = self._select().where(
            NotificationTemplate.kind == kind,
            NotificationTemplate.channel == channel,
            NotificationTemplate.locale == locale,
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def overrides(self, kind: str) -> dict[OverrideKey, TemplateOverride]:
        """Return the kind's overrides by (channel, locale)."""
        return {
            (row.channel, row.locale): TemplateOverride(subject=row.subject, text=row.body)
            for row in await self.for_kind(kind)
        }


def pick(
    overrides: Mapping[OverrideKey, TemplateOverride], channel: str, locale: str
) -> TemplateOverride | None:
    """Return the override for ``channel`` in ``locale`` (a language, e.g. ``id``), if any."""
    return overrides.get((channel, locale))


class TemplateOverrides:
    """The API of a tenant's overrides (admins change them; members read them)."""

    def __init__(self, *, database: Database, renderer: TemplateRenderer) -> None:
        self._database = database
        self._renderer = renderer

    async def list(self, tenant: TenantContext, kind: str) -> list[TemplateOverrideRead]:
        """Return the tenant's overrides of ``kind``."""
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            rows = await TemplateOverrideRepository(uow.session, tenant).for_kind(kind)
            return [TemplateOverrideRead.model_validate(row) for row in rows]

    async def put(
        self, principal: Principal, kind: str, body: TemplateOverridePut
    ) -> TemplateOverrideRead:
        """Store the override after it rendered with sample data; raise the render error."""
        override = TemplateOverride(subject=body.subject, text=body.text)
        self._renderer.check_override(kind, body.channel, body.locale, override)
        tenant = principal.tenant
        async with self._database.unit_of_work(tenant) as uow:
            templates = TemplateOverrideRepository(uow.session, tenant)
            row = await templates.one(kind, body.channel, body.locale)
            if row is None:
                row = await templates.add(
                    NotificationTemplate(
                        kind=kind,
                        channel=body.channel,
                        locale=body.locale,
                        subject=body.subject,
                        body=body.text,
                        updated_by=str(principal.user_id),
                    )
                )
            else:
                row.subject, row.body = body.subject, body.text
                row.updated_by = str(principal.user_id)
                await uow.session.flush()
            return TemplateOverrideRead.model_validate(row)

    async def delete(self, tenant: TenantContext, kind: str, channel: str, locale: str) -> None:
        """Remove one override (the package template applies again)."""
        async with self._database.unit_of_work(tenant) as uow:
            templates = TemplateOverrideRepository(uow.session, tenant)
            row = await templates.one(kind, channel, locale)
            if row is None:
                raise TemplateOverrideNotFoundError(
                    f"expected an override of {kind[:64]!r} on {channel} in {locale}; "
                    "this tenant has none"
                )
            await templates.delete(row)

    async def for_kind(
        self, tenant: TenantContext, kind: str
    ) -> dict[OverrideKey, TemplateOverride]:
        """Return the tenant's overrides of ``kind`` (for a preview)."""
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            return await TemplateOverrideRepository(uow.session, tenant).overrides(kind)
