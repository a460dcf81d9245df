"""Publish assets: the static site (overview + strategies pages) and the PDF summary, from the warehouse."""


from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import polars as pl

from assets.resources import WAREHOUSE_TAG, OutputsResource, PortfolioResource, WarehouseResource
from assets.strategies import DAY_TABLES, SIGNAL_TABLES
from pipeline import paths
from pipeline import warehouse as wh
from pipeline.publish.context import OverviewContext, build_overview_context
from pipeline.publish.pdf import render_report_pdf
from pipeline.publish.site import publish_site
from pipeline.publish.strategies import StrategiesContext, build_strategies_context, read_strategy_tables

PUBLISH = "publish"
PUBLISH_DEPS = [
    dg.AssetKey(["analytics", "ltv_daily"]),
    dg.AssetKey(["raw", "prices_daily"]),
    dg.AssetKey(["raw", "gvz_daily"]),
    dg.AssetKey(["raw", "rates_daily"]),
    *(dg.AssetKey(["analytics", name]) for name in (*DAY_TABLES, *SIGNAL_TABLES)),
]


def _contexts(
    warehouse: WarehouseResource, portfolio: PortfolioResource
) -> tuple[OverviewContext, pl.DataFrame, StrategiesContext]:
    """The shared page/report data, read in one read-only session: one source of truth for the
    site and the PDF. Empty strategy tables (the engine has not run) give an empty strategies page."""
    book = portfolio.load()
    generated_at = datetime.now(timezone.utc)
    with warehouse.open(read_only=True) as conn:
        ltv = wh.read_table(conn, "analytics.ltv_daily", order_by="date")
        prices = wh.read_prices(conn, book.collateral.symbol)
        status = wh.latest_ingest_status(conn)
        strategy_tables = read_strategy_tables(conn)
    overview = build_overview_context(ltv, prices, status, book.name, generated_at, symbol=book.collateral.symbol)
    strategies = build_strategies_context(strategy_tables, book.name, book.risk_profile, generated_at)
    return overview, ltv, strategies


@dg.asset(key_prefix=PUBLISH, group_name=PUBLISH, kinds={"html"}, deps=PUBLISH_DEPS,
          op_tags=WAREHOUSE_TAG)
def site(warehouse: WarehouseResource, portfolio: PortfolioResource,
         outputs: OutputsResource) -> dg.MaterializeResult:
    """The static dashboard: overview and strategies pages plus order-preview CSVs (works offline:
    Vega is bundled locally)."""
    overview, ltv, strategies = _contexts(warehouse, portfolio)
    page = publish_site(overview, ltv, strategies, Path(outputs.site_dir), paths.TEMPLATES_DIR)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(page)),
                                          "as_of": str(overview.as_of),
                                          "strategies_as_of": str(strategies.as_of)})


@dg.asset(key_prefix=PUBLISH, group_name=PUBLISH, kinds={"pdf"}, deps=PUBLISH_DEPS,
          op_tags=WAREHOUSE_TAG)
def report_pdf(warehouse: WarehouseResource, portfolio: PortfolioResource,
               outputs: OutputsResource) -> dg.MaterializeResult:
    """PDF summary rendered by WeasyPrint from the same data as the site, strategies on page two."""
    overview, ltv, strategies = _contexts(warehouse, portfolio)
    out_path = Path(outputs.reports_dir) / f"vault_summary_{overview.as_of.isoformat()}.pdf"
    pdf = render_report_pdf(overview, ltv, out_path, paths.TEMPLATES_DIR, strategies=strategies)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(pdf)),
                                          "as_of": str(overview.as_of)})
