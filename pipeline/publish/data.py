"""Everything the site and the PDF report are built from, read from the warehouse in one session.

`DashboardData` is the one input of every page's context function (pipeline/publish/site.py lists
them): the warehouse rows, the portfolio settings the pages quote, and the run facts the pure layer
cannot look up itself (the asset checks live in the Dagster instance, so the asset passes them in).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import duckdb
import polars as pl

from pipeline import warehouse as wh
from pipeline.config import Portfolio
from pipeline.publish.backtests import BacktestTables, empty_backtest_tables, read_backtest_tables
from pipeline.publish.strategies import StrategyTables, read_strategy_tables

CheckOutcome = Literal["passed", "failed", "not evaluated"]


@dataclass(frozen=True)
class CheckResult:
    """The latest evaluation of one Dagster asset check, as the Data & method page lists it."""

    asset: str
    """Asset key as written in the UI, e.g. "raw/prices_daily"."""
    check: str
    outcome: CheckOutcome
    severity: str | None
    """ERROR or WARN; None when the check has not been evaluated."""
    description: str
    evaluated_at: datetime | None
    run_id: str | None


@dataclass(frozen=True, eq=False)
class DashboardData:
    """The inputs of every page: warehouse rows (all frames empty before their step has run),
    portfolio settings and the facts of the run that publishes."""

    portfolio_name: str
    risk_profile: str
    symbol: str
    warn_ltv: float
    critical_ltv: float
    generated_at: datetime
    ltv: pl.DataFrame
    """analytics.ltv_daily, oldest first."""
    positions: pl.DataFrame
    """analytics.positions_daily, by date and position_id."""
    prices: pl.DataFrame
    """raw.prices_daily rows of the collateral symbol, oldest first."""
    ingest_status: pl.DataFrame
    """raw.ingest_status: the latest ingest of each raw table."""
    chain: pl.DataFrame
    """analytics.chain_latest: the latest option-chain snapshot, valued."""
    alerts: pl.DataFrame
    """analytics.alerts: the alert log, one row per state change."""
    strategies: StrategyTables
    checks: tuple[CheckResult, ...] | None = None
    """Latest asset-check evaluations; None when published outside Dagster (nothing to read them from)."""
    backtests: BacktestTables = field(default_factory=empty_backtest_tables)
    """The backtest engine's tables (empty before it has run)."""


def read_dashboard_data(
    conn: duckdb.DuckDBPyConnection,
    portfolio: Portfolio,
    generated_at: datetime,
    checks: tuple[CheckResult, ...] | None = None,
) -> DashboardData:
    """Read every table the pages show from an open (read-only) warehouse connection."""
    symbol = portfolio.collateral.symbol
    return DashboardData(
        portfolio_name=portfolio.name,
        risk_profile=portfolio.risk_profile,
        symbol=symbol,
        warn_ltv=portfolio.alerts.warn_ltv,
        critical_ltv=portfolio.alerts.critical_ltv,
        generated_at=generated_at,
        ltv=wh.read_table(conn, "analytics.ltv_daily", order_by="date"),
        positions=wh.read_table(conn, "analytics.positions_daily", order_by="date, position_id"),
        prices=wh.read_prices(conn, symbol),
        ingest_status=wh.read_table(conn, "raw.ingest_status", order_by="table_name"),
        chain=wh.read_table(conn, "analytics.chain_latest", order_by="expiry, option_right, strike"),
        alerts=wh.read_table(conn, "analytics.alerts", order_by="first_seen, alert_id"),
        strategies=read_strategy_tables(conn),
        backtests=read_backtest_tables(conn),
        checks=checks,
    )
