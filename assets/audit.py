"""The audit asset: after the site and the PDF are published, export the figures they show.

Runs last among the publish steps so the export matches what was published in this run; the
pure work is pipeline/audit.py.
"""

from pathlib import Path

import dagster as dg

from assets.resources import WAREHOUSE_TAG, OutputsResource, PortfolioResource, WarehouseResource
from pipeline.audit import export_audit


@dg.asset(key_prefix="publish", group_name="publish", kinds={"parquet"}, op_tags=WAREHOUSE_TAG,
          deps=[dg.AssetKey(["publish", "site"]), dg.AssetKey(["publish", "report_pdf"])])
def audit(context: dg.AssetExecutionContext, warehouse: WarehouseResource, outputs: OutputsResource,
          portfolio: PortfolioResource) -> dg.MaterializeResult:
    """Parquet + manifest (rows, sha256, run and methodology version) of every figure published.

    Takes the portfolio resource only for its setup check (a bad portfolio.toml stops every step
    that opens the warehouse before it does)."""
    with warehouse.open(read_only=True) as conn:
        as_of = conn.execute("SELECT max(date) FROM analytics.ltv_daily").fetchall()[0][0]
        folder = export_audit(conn, as_of, Path(outputs.audit_dir), context.run_id)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(folder)),
                                          "manifest": dg.MetadataValue.path(str(folder / "manifest.json"))})
