"""Publishing step: static offline dashboard page and emailed PDF report.

Pure functions over Polars frames (no Dagster): build one `OverviewContext`, then
render it to HTML (`publish_site`) and to PDF (`render_report_pdf`).
"""

from pipeline.publish.charts import chart_spec_json, chart_svg, ltv_history_chart
from pipeline.publish.context import OverviewContext, SourceStatus, build_overview_context
from pipeline.publish.pdf import render_report_pdf
from pipeline.publish.site import publish_site

__all__ = [
    "OverviewContext",
    "SourceStatus",
    "build_overview_context",
    "chart_spec_json",
    "chart_svg",
    "ltv_history_chart",
    "publish_site",
    "render_report_pdf",
]
