"""Raw ingestion assets: GLD prices, GVZ and T-bill rates into `raw.*`."""


from collections.abc import Callable
from datetime import date, datetime

import dagster as dg
import polars as pl

from assets.resources import WAREHOUSE_TAG, MarketDataResource, PortfolioResource, WarehouseResource
from pipeline import warehouse as wh
from pipeline.market import calendar, embedded, yahoo
from pipeline.market.ingest import ingest

RAW = "raw"


def _refresh(context: dg.AssetExecutionContext, warehouse: WarehouseResource, market: MarketDataResource,
             *, table: str, now: datetime, embedded_rows: pl.DataFrame, key: list[str],
             fetch_live: Callable[[date], pl.DataFrame], where: dict[str, object] | None = None,
             calendar_name: str = calendar.EQUITY_CALENDAR) -> dg.MaterializeResult:
    """Merge embedded, stored and (live mode) new rows of `table`'s slice and store them with
    an ingest-log row; stale/partial outcomes are logged as warnings, never failures."""
    with warehouse.open() as conn:
        stored = wh.read_table(conn, table, where=where)
    result = ingest(table=table, embedded=embedded_rows, stored=stored, key=key, live=market.live,
                    fetch_live=fetch_live, now=now, calendar_name=calendar_name)
    with warehouse.open() as conn:
        wh.replace_rows(conn, table, result.frame, where=where)
        wh.log_ingest(conn, table, result.status, result.reason, result.frame)
    if result.status in ("stale", "partial"):
        context.log.warning(result.reason)
    return dg.MaterializeResult(metadata=result.metadata())


@dg.asset(key_prefix=RAW, group_name=RAW, kinds={"duckdb", "python"}, op_tags=WAREHOUSE_TAG)
def prices_daily(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 market: MarketDataResource, portfolio: PortfolioResource) -> dg.MaterializeResult:
    """Daily OHLCV of the collateral symbol (GLD): embedded history plus live bars when on."""
    symbol = portfolio.load().collateral.symbol
    now = market.now()
    return _refresh(
        context, warehouse, market, table="raw.prices_daily", now=now,
        embedded_rows=embedded.load_prices(symbol, now), key=["symbol", "date"], where={"symbol": symbol},
        fetch_live=lambda start: yahoo.fetch_prices(symbol, start, market.deadline_seconds, now),
    )


@dg.asset(key_prefix=RAW, group_name=RAW, kinds={"duckdb", "python"}, op_tags=WAREHOUSE_TAG)
def gvz_daily(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
              market: MarketDataResource, portfolio: PortfolioResource) -> dg.MaterializeResult:
    """Cboe Gold ETF Volatility Index closes: the ATM implied-vol level of GLD options."""
    now = market.now()
    return _refresh(
        context, warehouse, market, table="raw.gvz_daily", now=now,
        embedded_rows=embedded.load_gvz(now), key=["date"],
        fetch_live=lambda start: yahoo.fetch_gvz(start, market.deadline_seconds, now),
    )


@dg.asset(key_prefix=RAW, group_name=RAW, kinds={"duckdb", "python"}, op_tags=WAREHOUSE_TAG)
def rates_daily(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                market: MarketDataResource, portfolio: PortfolioResource) -> dg.MaterializeResult:
    """3-month T-bill as a continuously compounded rate (quoted discount kept beside it)."""
    now = market.now()
    return _refresh(
        context, warehouse, market, table="raw.rates_daily", now=now,
        embedded_rows=embedded.load_rates(now), key=["date", "tenor"],
        calendar_name=calendar.BOND_CALENDAR,
        fetch_live=lambda start: yahoo.fetch_rates(start, market.deadline_seconds, now),
    )
