"""The sample bars ``fx-default`` trains on: the ``SampleMarket`` the demo hands to ml.

``ml.api.ensure_default_model`` trains the platform's first model when none is in
production, but the sample market lives here, above the layers, so ml never imports it:
the caller passes ``default_model_bars``. The bars go the way of ``chainflow train
--data``: written as an MT5 bar export to a temporary directory and read back by the
bridge's one bar-file reader.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from chainflow.bridge.api import read_bar_file
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_files import SampleFileKind, write_sample_files
from chainflow.ml.api import SampleBars

if TYPE_CHECKING:
    from chainflow.ml.api import DefaultModelRecipe


def default_model_bars(recipe: DefaultModelRecipe) -> SampleBars:
    """Return the sample market's bars for ``recipe`` (its symbol, timeframe, days, seed)."""
    market = SampleMarketConfig(symbols=(recipe.symbol,), days=recipe.days, seed=recipe.seed)
    with tempfile.TemporaryDirectory(prefix="chainflow-default-model-") as directory:
        (summary,) = write_sample_files(
            market, Path(directory), kinds=(SampleFileKind.MT5_BARS,), timeframe=recipe.timeframe
        )
        bars = read_bar_file(summary.paths[0], recipe.symbol, timeframe=recipe.timeframe)
    return SampleBars(bars=bars, start=market.start.date())
