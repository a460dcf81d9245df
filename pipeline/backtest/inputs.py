"""What every backtest step reads from the warehouse, read once: market arrays, vendor chains, latest LTV."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from pipeline import warehouse as wh
from pipeline.backtest.providers import Market, PriceProvider, ProviderName, make_provider
from pipeline.config import Portfolio
from pipeline.portfolio.positions import market_surface


@dataclass(frozen=True)
class BacktestInputs:
    """The backtests' only inputs: pure data, so steps that receive it never open the warehouse."""

    surface: pl.DataFrame
    """`market_surface` rows: date, close, atm_vol, atm_vol_source, rate (every GLD day)."""
    chains: pl.DataFrame
    """`analytics.option_valuations` vendor rows (model chains are not observations)."""
    latest_ltv: float
    """The portfolio's latest LTV: each event's initial LTV unless [backtest] sets one."""

    def market(self) -> Market:
        return Market.from_surface(self.surface)

    def provider(self, name: ProviderName) -> PriceProvider:
        return make_provider(name, self.market(), self.chains)


def read_backtest_inputs(conn: duckdb.DuckDBPyConnection, book: Portfolio) -> BacktestInputs:
    """Read the inputs from an open warehouse connection."""
    symbol = book.collateral.symbol
    surface = market_surface(wh.read_prices(conn, symbol), wh.read_table(conn, "raw.gvz_daily"),
                             wh.read_table(conn, "raw.rates_daily"), symbol)
    chains = conn.sql("SELECT * FROM analytics.option_valuations WHERE symbol = ? AND source <> 'model'",
                      params=[symbol]).pl()
    latest = conn.sql("SELECT ltv FROM analytics.ltv_latest").fetchall()
    if not latest:
        raise ValueError("analytics.ltv_latest is empty: run the daily job (make run) before the backtests")
    return BacktestInputs(surface, chains, float(latest[0][0]))
