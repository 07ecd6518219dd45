"""Client SDK for ``WS /ws/ticks``: the reference MT5 side (``docs/mt5-protocol.md``)."""

from chainflow.client.frames import (
    ClientStats,
    Mt5AuthError,
    Mt5ClientError,
    Mt5ConnectionError,
)
from chainflow.client.mt5 import Mt5Client

__all__ = ["ClientStats", "Mt5AuthError", "Mt5Client", "Mt5ClientError", "Mt5ConnectionError"]
