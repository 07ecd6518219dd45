"""The channels configured in this process, by name."""

from __future__ import annotations

from collections.abc import Iterable

from chainflow.notify.channels.base import Channel

__all__ = ["ChannelRegistry"]


class ChannelRegistry:
    """Holds one ``Channel`` per name; the worker sends through it, intake asks what exists."""

    def __init__(self, channels: Iterable[Channel] = ()) -> None:
        self._channels: dict[str, Channel] = {}
        for channel in channels:
            self.add(channel)

    def add(self, channel: Channel) -> None:
        """Register ``channel`` under its ``name`` (replacing one of the same name)."""
        self._channels[channel.name] = channel

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._channels)

    async def close(self) -> None:
        """Close every channel."""
        for channel in self._channels.values():
            await channel.close()
