"""Publish assets: the static overview site and the PDF summary, from the warehouse."""


from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from assets.resources import WAREHOUSE_TAG, OutputsResource, PortfolioResource, WarehouseResource
from pipeline import paths
from pipeline import warehouse as wh
from pipeline.publish.context import OverviewContext, build_overview_context
from pipeline.publish.pdf import render_report_pdf
from pipeline.publish.site import publish_site

PUBLISH = "publish"
PUBLISH_DEPS = [
    dg.AssetKey(["analytics", "ltv_daily"]),
    dg.AssetKey(["raw", "prices_daily"]),
    dg.AssetKey(["raw", "gvz_daily"]),
    dg.AssetKey(["raw", "rates_daily"]),
]


def _overview(warehouse: WarehouseResource, portfolio: PortfolioResource):  # noqa: ANN202
    """The shared page/report data: one source of truth for the site and the PDF."""
    book = portfolio.load()
    with warehouse.open(read_only=True) as conn:
        ltv = wh.read_table(conn, "analytics.ltv_daily", order_by="date")
        prices = wh.read_prices(conn, book.collateral.symbol)
        status = wh.latest_ingest_status(conn)
    context: OverviewContext = build_overview_context(
        ltv, prices, status, book.name, datetime.now(timezone.utc), symbol=book.collateral.symbol
    )
    return context, ltv


@dg.asset(key_prefix=PUBLISH, group_name=PUBLISH, kinds={"html"}, deps=PUBLISH_DEPS,
          op_tags=WAREHOUSE_TAG)
def site(warehouse: WarehouseResource, portfolio: PortfolioResource,
         outputs: OutputsResource) -> dg.MaterializeResult:
    """The static dashboard (works offline: Vega is bundled locally)."""
    context, ltv = _overview(warehouse, portfolio)
    page = publish_site(context, ltv, Path(outputs.site_dir), paths.TEMPLATES_DIR)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(page)),
                                          "as_of": str(context.as_of)})


@dg.asset(key_prefix=PUBLISH, group_name=PUBLISH, kinds={"pdf"}, deps=PUBLISH_DEPS,
          op_tags=WAREHOUSE_TAG)
def report_pdf(warehouse: WarehouseResource, portfolio: PortfolioResource,
               outputs: OutputsResource) -> dg.MaterializeResult:
    """One-page PDF summary rendered by WeasyPrint from the same data as the site."""
    context, ltv = _overview(warehouse, portfolio)
    out_path = Path(outputs.reports_dir) / f"vault_summary_{context.as_of.isoformat()}.pdf"
    pdf = render_report_pdf(context, ltv, out_path, paths.TEMPLATES_DIR)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(pdf)),
                                          "as_of": str(context.as_of)})
