"""All queries of the bridge's tables; tenant-scoped."""

from __future__ import annotations

from collections.abc import Mapping

from chainflow.bridge.models import SymbolAlias
from chainflow.storage.relational import TenantRepository


class SymbolAliasRepository(TenantRepository[SymbolAlias]):
    async def as_mapping(self) -> dict[str, str]:
        rows = (await self.session.execute(self._select())).scalars().all()
        return {row.alias: row.symbol for row in rows}

    async def replace_all(self, aliases: Mapping[str, str]) -> None:
        await self.session.execute(self._delete())
        for alias, symbol in aliases.items():
            await self.add(SymbolAlias(alias=alias, symbol=symbol))
