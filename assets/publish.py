"""Publish assets: the static site (every dashboard page) and the PDF summary, from the warehouse.

Both read one `DashboardData` in a single read-only session; the site also gets the latest
asset-check evaluations from the Dagster instance (the pure layer has no Dagster to ask).
"""


from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from assets.checks import raw_checks
from assets.resources import WAREHOUSE_TAG, OutputsResource, PortfolioResource, WarehouseResource
from assets.strategies import DAY_TABLES, SIGNAL_TABLES
from pipeline import paths
from pipeline.publish.data import CheckResult, DashboardData, read_dashboard_data
from pipeline.publish.pdf import render_report_pdf
from pipeline.publish.site import publish_site

PUBLISH = "publish"
PUBLISH_DEPS = [
    dg.AssetKey(["analytics", "ltv_daily"]),
    dg.AssetKey(["analytics", "positions_daily"]),
    dg.AssetKey(["analytics", "option_valuations"]),
    dg.AssetKey(["raw", "prices_daily"]),
    dg.AssetKey(["raw", "gvz_daily"]),
    dg.AssetKey(["raw", "rates_daily"]),
    *(dg.AssetKey(["analytics", name]) for name in (*DAY_TABLES, *SIGNAL_TABLES)),
]
# The site also shows this run's alert log (with its delivery), so it waits for the alerts step, which
# itself waits for the PDF it attaches.
SITE_DEPS = [*PUBLISH_DEPS, dg.AssetKey(["analytics", "alerts"])]
# Past evaluations looked at per check to find its latest finished one (this run's may not have run yet).
CHECK_HISTORY_DEPTH = 5


def latest_check_results(instance: dg.DagsterInstance) -> tuple[CheckResult, ...]:
    """The latest finished evaluation of every raw-table check, in definition order."""
    results = []
    for key in (key for check in raw_checks for key in check.check_keys):
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=CHECK_HISTORY_DEPTH)
        evaluated = next((record for record in records if record.event is not None
                          and isinstance(record.event.dagster_event.event_specific_data, dg.AssetCheckEvaluation)),
                         None)
        if evaluated is None:
            results.append(CheckResult(asset=key.asset_key.to_user_string(), check=key.name, outcome="not evaluated",
                                       severity=None, description="no finished evaluation recorded yet",
                                       evaluated_at=None, run_id=None))
            continue
        evaluation = evaluated.event.dagster_event.event_specific_data
        results.append(CheckResult(
            asset=key.asset_key.to_user_string(), check=key.name,
            outcome="passed" if evaluation.passed else "failed",
            severity=evaluation.severity.value, description=evaluation.description or "",
            evaluated_at=datetime.fromtimestamp(evaluated.event.timestamp, timezone.utc), run_id=evaluated.run_id,
        ))
    return tuple(results)


def _dashboard_data(warehouse: WarehouseResource, portfolio: PortfolioResource,
                    checks: tuple[CheckResult, ...] | None = None) -> DashboardData:
    """The shared page/report data, read in one read-only session: one source of truth for the
    site and the PDF. Tables a step has not filled yet read as empty (their page says so)."""
    with warehouse.open(read_only=True) as conn:
        return read_dashboard_data(conn, portfolio.load(), datetime.now(timezone.utc), checks)


@dg.asset(key_prefix=PUBLISH, group_name=PUBLISH, kinds={"html"}, deps=SITE_DEPS,
          op_tags=WAREHOUSE_TAG)
def site(context: dg.AssetExecutionContext, warehouse: WarehouseResource, portfolio: PortfolioResource,
         outputs: OutputsResource) -> dg.MaterializeResult:
    """The static dashboard: overview, option chain, LTV history, strategies, backtests, alerts, data
    & method, with page data and CSV downloads (works offline: Vega is bundled locally)."""
    data = _dashboard_data(warehouse, portfolio, latest_check_results(context.instance))
    published = publish_site(data, Path(outputs.site_dir), paths.TEMPLATES_DIR)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(published.index)),
        "as_of": str(data.ltv["date"].max()),
        "page_kb": ", ".join(f"{name} {size / 1000:,.0f}" for name, size in published.page_bytes.items()),
    })


@dg.asset(key_prefix=PUBLISH, group_name=PUBLISH, kinds={"pdf"}, deps=PUBLISH_DEPS,
          op_tags=WAREHOUSE_TAG)
def report_pdf(warehouse: WarehouseResource, portfolio: PortfolioResource,
               outputs: OutputsResource) -> dg.MaterializeResult:
    """PDF summary rendered by WeasyPrint from the same data as the site, strategies on page two."""
    data = _dashboard_data(warehouse, portfolio)
    as_of = data.ltv["date"].max()
    out_path = Path(outputs.reports_dir) / f"vault_summary_{as_of.isoformat()}.pdf"
    pdf = render_report_pdf(data, out_path, paths.TEMPLATES_DIR)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(pdf)), "as_of": str(as_of)})
