"""Raw ingestion assets: GLD prices, GVZ and T-bill rates into `raw.*`."""


import dagster as dg

from assets.resources import WAREHOUSE_TAG, MarketDataResource, PortfolioResource, WarehouseResource
from pipeline import warehouse as wh
from pipeline.market import calendar, embedded, yahoo
from pipeline.market.ingest import IngestResult, ingest

RAW = "raw"


def _store(context: dg.AssetExecutionContext, warehouse: WarehouseResource, table: str,
           result: IngestResult, where: dict[str, object] | None = None) -> dg.MaterializeResult:
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
    with warehouse.open() as conn:
        stored = wh.read_prices(conn, symbol)
    result = ingest(
        table="raw.prices_daily", embedded=embedded.load_prices(symbol, now), stored=stored,
        key=["symbol", "date"], live=market.live, now=now,
        fetch_live=lambda start: yahoo.fetch_prices(symbol, start, market.deadline_seconds, now),
    )
    return _store(context, warehouse, "raw.prices_daily", result, where={"symbol": symbol})


@dg.asset(key_prefix=RAW, group_name=RAW, kinds={"duckdb", "python"}, op_tags=WAREHOUSE_TAG)
def gvz_daily(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
              market: MarketDataResource, portfolio: PortfolioResource) -> dg.MaterializeResult:
    """Cboe Gold ETF Volatility Index closes: the ATM implied-vol level of GLD options."""
    now = market.now()
    with warehouse.open() as conn:
        stored = wh.read_table(conn, "raw.gvz_daily")
    result = ingest(
        table="raw.gvz_daily", embedded=embedded.load_gvz(now), stored=stored, key=["date"],
        live=market.live, now=now,
        fetch_live=lambda start: yahoo.fetch_gvz(start, market.deadline_seconds, now),
    )
    return _store(context, warehouse, "raw.gvz_daily", result)


@dg.asset(key_prefix=RAW, group_name=RAW, kinds={"duckdb", "python"}, op_tags=WAREHOUSE_TAG)
def rates_daily(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                market: MarketDataResource, portfolio: PortfolioResource) -> dg.MaterializeResult:
    """3-month T-bill as a continuously compounded rate (quoted discount kept beside it)."""
    now = market.now()
    with warehouse.open() as conn:
        stored = wh.read_table(conn, "raw.rates_daily")
    result = ingest(
        table="raw.rates_daily", embedded=embedded.load_rates(now), stored=stored,
        key=["date", "tenor"], live=market.live, now=now, calendar_name=calendar.BOND_CALENDAR,
        fetch_live=lambda start: yahoo.fetch_rates(start, market.deadline_seconds, now),
    )
    return _store(context, warehouse, "raw.rates_daily", result)
