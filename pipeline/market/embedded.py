"""The real market history shipped in data/embedded (provenance in data/SOURCES.md).

This is the default source of every run and test, and the fallback when live fetching fails.
Frames come back in the raw warehouse layout, with `source = 'embedded'`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

from pipeline.market.rates import tbill_rates
from pipeline.paths import EMBEDDED_DATA_DIR

EMBEDDED_SOURCE = "embedded"
EMBEDDED_PRICE_FILES = {"GLD": "gld_daily.csv"}
GVZ_FILE = "gvz_daily.csv"
TBILL_FILE = "tbill_3m_daily.csv"


def _provenance(frame: pl.DataFrame, fetched_at: datetime) -> pl.DataFrame:
    return frame.with_columns(
        source=pl.lit(EMBEDDED_SOURCE),
        fetched_at=pl.lit(fetched_at, dtype=pl.Datetime("us", "UTC")),
    )


def load_prices(symbol: str, fetched_at: datetime, data_dir: Path = EMBEDDED_DATA_DIR) -> pl.DataFrame:
    """Daily OHLCV bars of `symbol` in the `raw.prices_daily` layout."""
    if symbol not in EMBEDDED_PRICE_FILES:
        raise ValueError(
            f"symbol {symbol!r} has no embedded history; embedded symbols: {sorted(EMBEDDED_PRICE_FILES)}"
        )
    bars = pl.read_csv(
        data_dir / EMBEDDED_PRICE_FILES[symbol],
        schema={"date": pl.Date, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
                "close": pl.Float64, "volume": pl.Int64},
    )
    return _provenance(bars.with_columns(symbol=pl.lit(symbol)), fetched_at).select(
        "symbol", "date", "open", "high", "low", "close", "volume", "source", "fetched_at"
    )


def load_gvz(fetched_at: datetime, data_dir: Path = EMBEDDED_DATA_DIR) -> pl.DataFrame:
    """Cboe Gold ETF Volatility Index closes in the `raw.gvz_daily` layout."""
    gvz = pl.read_csv(data_dir / GVZ_FILE, schema={"date": pl.Date, "close": pl.Float64})
    return _provenance(gvz, fetched_at)


def load_rates(fetched_at: datetime, data_dir: Path = EMBEDDED_DATA_DIR) -> pl.DataFrame:
    """3-month T-bill in the `raw.rates_daily` layout: continuous rate plus the quoted discount."""
    bills = pl.read_csv(data_dir / TBILL_FILE, schema={"date": pl.Date, "rate_pct": pl.Float64})
    return _provenance(tbill_rates(bills, "rate_pct"), fetched_at)
