"""Fixtures of the backtest job tests: sample bars and a platform with tenants on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chainflow.core.market import Timeframe
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_files import SampleFileKind, write_sample_files
from tests.backtest.job_platform import Platform, open_platform


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    write_sample_files(
        SampleMarketConfig(symbols=("EURUSD",), days=8),
        out,
        kinds=(SampleFileKind.MT5_BARS,),
        timeframe=Timeframe.M5,
    )
    return out / "EURUSD_M5.tsv"


@pytest.fixture
async def platform(tmp_path: Path, sample: Path) -> AsyncIterator[Platform]:
    """Three tenants: ``free`` (free tier), ``pro`` (pro tier) and ``other`` (free)."""
    async with open_platform(tmp_path / "home", sample) as opened:
        yield opened
