"""Analytics assets: derived tables computed from `raw.*` by `pipeline/`."""


import dagster as dg
import polars as pl

from assets.resources import WAREHOUSE_TAG, PortfolioResource, WarehouseResource
from pipeline import warehouse as wh
from pipeline.config import Portfolio
from pipeline.portfolio.hedged import hedged_margin_call_prices
from pipeline.portfolio.ltv import ltv_daily as compute_ltv_daily
from pipeline.portfolio.positions import hedge_totals_daily, market_surface
from pipeline.portfolio.positions import positions_daily as compute_positions_daily

ANALYTICS = "analytics"
MARKET_DEPS = [dg.AssetKey(["raw", "prices_daily"]), dg.AssetKey(["raw", "gvz_daily"]),
               dg.AssetKey(["raw", "rates_daily"])]
OPTION_VALUATIONS = dg.AssetKey(["analytics", "option_valuations"])


def _surface(conn, book: Portfolio) -> pl.DataFrame:  # noqa: ANN001
    return market_surface(wh.read_prices(conn, book.collateral.symbol), wh.read_table(conn, "raw.gvz_daily"),
                          wh.read_table(conn, "raw.rates_daily"), book.collateral.symbol)


@dg.asset(key_prefix=ANALYTICS, group_name=ANALYTICS, kinds={"duckdb", "polars"},
          deps=[*MARKET_DEPS, OPTION_VALUATIONS], op_tags=WAREHOUSE_TAG)
def positions_daily(portfolio: PortfolioResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Held hedges per day: mark (chain valuation when quoted, else the kernel), Greeks, P&L, triage."""
    book = portfolio.load()
    with warehouse.open() as conn:
        valuations = conn.sql(
            "SELECT snapshot_date, expiry, option_right, strike, mid, delta, gamma, theta, vega, source "
            "FROM analytics.option_valuations WHERE symbol = ?", params=[book.collateral.symbol]).pl()
        frame = compute_positions_daily(book, _surface(conn, book), valuations)
        wh.replace_rows(conn, "analytics.positions_daily", frame)
    latest = frame.filter(pl.col("date") == frame["date"].max()) if frame.height else frame
    return dg.MaterializeResult(metadata={
        "rows": frame.height,
        "positions": len(book.hedges),
        "mark_sources": ", ".join(sorted(frame["mark_source"].unique().to_list())) or "(none)",
        "latest_triage": ", ".join(f"{p}={t}" for p, t in latest.select("position_id", "triage").rows()) or "(none)",
    })


@dg.asset(key_prefix=ANALYTICS, group_name=ANALYTICS, kinds={"duckdb", "polars"},
          deps=[*MARKET_DEPS, dg.AssetKey(["analytics", "positions_daily"])], op_tags=WAREHOUSE_TAG)
def ltv_daily(portfolio: PortfolioResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Loan-to-value, margin-call and liquidation prices, cure amount, hedged LTV and hedged call price."""
    book = portfolio.load()
    with warehouse.open() as conn:
        positions = wh.read_table(conn, "analytics.positions_daily", order_by="date, position_id")
        hedges = hedge_totals_daily(positions).join(
            hedged_margin_call_prices(positions, book.share_count, book.loan.amount, book.loan.margin_call_ltv),
            on="date", how="left")
        frame = compute_ltv_daily(wh.read_prices(conn, book.collateral.symbol), book, hedges)
        wh.replace_rows(conn, "analytics.ltv_daily", frame)
    latest = frame.row(-1, named=True)
    return dg.MaterializeResult(metadata={
        "rows": frame.height,
        "first_date": str(frame["date"].min()),
        "last_date": str(latest["date"]),
        "ltv": dg.MetadataValue.float(round(latest["ltv"], 6)),
        "hedged_ltv": dg.MetadataValue.float(round(latest["hedged_ltv"], 6)),
        "margin_call_price": dg.MetadataValue.float(round(latest["margin_call_price"], 4)),
        "cure_amount": dg.MetadataValue.float(round(latest["cure_amount"], 2)),
        "hedge_mark_source": latest["hedge_mark_source"],
    })
