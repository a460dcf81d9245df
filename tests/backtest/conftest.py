"""The embedded GLD market (real closes, GVZ and T-bills) as backtest arrays, built once."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pipeline.backtest.providers import Market, SyntheticProvider
from pipeline.market import embedded
from pipeline.portfolio.positions import market_surface


@pytest.fixture(scope="session")
def market() -> Market:
    now = datetime(2026, 12, 7, tzinfo=timezone.utc)
    return Market.from_surface(market_surface(embedded.load_prices("GLD", now), embedded.load_gvz(now),
                                              embedded.load_rates(now)))


@pytest.fixture(scope="session")
def synthetic(market: Market) -> SyntheticProvider:
    return SyntheticProvider(market)
