"""A bar's work counts against its tenant's CPU share, in the kernel of one process.

Proves: the features of a published bar and the decision on a prediction are charged to
the bar's tenant in the kernel's ``CpuShares`` (the one the bridge admits frames with), and
to no other tenant. A tenant replaying history closes bars many times a second; its frames
are then read more slowly, not the others' (``core.cpu_share``).
"""

from __future__ import annotations

from pathlib import Path

from chainflow.bridge.events import BarPublished
from chainflow.runtime.kernel import Kernel
from tests.fixtures.settings import embedded_settings
from tests.trading.test_service_risk import BAR_MS, T0, UP, prediction

TENANT = "0190a5c0-0000-7000-8000-00000000c0de"
OTHER = "0190a5c0-0000-7000-8000-00000000beef"


async def test_features_and_decisions_of_a_bar_are_charged_to_its_tenant(
    tmp_path: Path,
) -> None:
    kernel = Kernel(embedded_settings(tmp_path / "home"), services="hub,storage,features,trading")
    kernel.build()
    await kernel.start()
    try:
        features, trading = kernel.features, kernel.trading
        assert features is not None and trading is not None
        shares = kernel.cpu_shares
        close = 1.1
        bar = BarPublished(TENANT, "EURUSD", "M5", T0, close, close, close, close, 1.0, 1, None)
        await features.on_bar(bar)
        after_bar = shares.usage(TENANT)[0]
        assert after_bar > 0

        await trading.on_prediction(prediction(TENANT, T0 + BAR_MS, UP))

        assert shares.usage(TENANT)[0] > after_bar
        assert shares.usage(OTHER) == (0.0, 0.0)
    finally:
        await kernel.stop()
