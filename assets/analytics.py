"""Analytics assets: derived tables computed from `raw.*` by `pipeline/`."""


import dagster as dg

from assets.resources import WAREHOUSE_TAG, PortfolioResource, WarehouseResource
from pipeline import warehouse as wh
from pipeline.portfolio.ltv import ltv_daily as compute_ltv_daily

ANALYTICS = "analytics"


@dg.asset(key_prefix=ANALYTICS, group_name=ANALYTICS, kinds={"duckdb", "polars"},
          deps=[dg.AssetKey(["raw", "prices_daily"])], op_tags=WAREHOUSE_TAG)
def ltv_daily(warehouse: WarehouseResource, portfolio: PortfolioResource) -> dg.MaterializeResult:
    """Loan-to-value, margin-call price and distance to the call, per trading day."""
    book = portfolio.load()
    with warehouse.open() as conn:
        frame = compute_ltv_daily(wh.read_prices(conn, book.collateral.symbol), book)
        wh.replace_rows(conn, "analytics.ltv_daily", frame)
    latest = frame.row(-1, named=True)
    return dg.MaterializeResult(metadata={
        "rows": frame.height,
        "first_date": str(frame["date"].min()),
        "last_date": str(latest["date"]),
        "ltv": dg.MetadataValue.float(round(latest["ltv"], 6)),
        "margin_call_price": dg.MetadataValue.float(round(latest["margin_call_price"], 4)),
    })
