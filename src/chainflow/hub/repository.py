"""All queries of the hub's tables (global, not tenant-owned)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from chainflow.hub.models import ConfigOverride


class ConfigOverrideRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def list_all(self) -> Sequence[ConfigOverride]:
        result = await self._session.execute(select(ConfigOverride).order_by(ConfigOverride.key))
        return result.scalars().all()

    async def upsert(
        self, key: str, value_json: str, *, updated_at: datetime, updated_by: str | None
    ) -> None:
        row = await self._session.get(ConfigOverride, key)
        if row is None:
            self._session.add(
                ConfigOverride(
                    key=key, value=value_json, updated_at=updated_at, updated_by=updated_by
                )
            )
        else:
            row.value = value_json
            row.updated_at = updated_at
            row.updated_by = updated_by
        await self._session.flush()

    async def delete(self, key: str) -> None:
        await self._session.execute(delete(ConfigOverride).where(ConfigOverride.key == key))
