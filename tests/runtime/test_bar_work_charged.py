"""A bar's features count against its tenant's CPU share, in the kernel of one process.

Proves: computing the features of a published bar is charged to the bar's tenant in the
kernel's ``CpuShares`` (the one the bridge admits frames with), and to no other tenant. A
tenant replaying history closes bars many times a second; its frames are then read more
slowly, not the others' (``core.cpu_share``).
"""

from __future__ import annotations

from pathlib import Path

from chainflow.bridge.events import BarPublished
from chainflow.runtime.kernel import Kernel
from tests.fixtures.settings import embedded_settings
from tests.trading.test_service_risk import BAR_MS, T0

TENANT = "0190a5c0-0000-7000-8000-00000000c0de"
OTHER = "0190a5c0-0000-7000-8000-00000000beef"


async def test_the_features_of_a_bar_are_charged_to_its_tenant(tmp_path: Path) -> None:
    kernel = Kernel(embedded_settings(tmp_path / "home"), services="hub,storage,features")
    kernel.build()
    await kernel.start()
    try:
        features = kernel.features
        assert features is not None
        shares = kernel.cpu_shares
        charged = []
        for i in range(3):  # the first bar starts the key (a rebuild, in the worker), then two
            close = 1.1 + 0.001 * i
            bar = BarPublished(
                TENANT, "EURUSD", "M5", T0 + i * BAR_MS, close, close, close, close, 1.0, 1, None
            )
            await features.on_bar(bar)
            charged.append(shares.usage(TENANT)[0])

        assert 0 < charged[1] < charged[2]
        assert shares.usage(OTHER) == (0.0, 0.0)
    finally:
        await kernel.stop()
