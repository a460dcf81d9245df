"""The `raw.option_quotes` row layout: what a chain snapshot is, whoever produced it.

Sources (live yfinance in pipeline/market/options.py) and the model chain and valuation
(pipeline/pricing/chain.py) both build frames of this shape; it lives with the market data so
that sources never import valuation (data flows market -> pricing, never back).
"""

from __future__ import annotations

from typing import Final

import polars as pl

QUOTES_SCHEMA: Final = {
    "snapshot_date": pl.Date, "symbol": pl.Utf8, "contract": pl.Utf8, "expiry": pl.Date,
    "option_right": pl.Utf8, "strike": pl.Float64, "bid": pl.Float64, "ask": pl.Float64,
    "last": pl.Float64, "volume": pl.Int64, "open_interest": pl.Int64, "vendor_iv": pl.Float64,
    "underlying_price": pl.Float64, "last_trade_at": pl.Datetime("us", "UTC"), "source": pl.Utf8,
    "fetched_at": pl.Datetime("us", "UTC"),
}
"""Column -> dtype of `raw.option_quotes` (warehouse/schema/10_raw_options.sql)."""
