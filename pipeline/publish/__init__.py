"""Publishing step: static offline dashboard (overview + strategies pages) and emailed PDF report.

Pure functions over Polars frames (no Dagster): build one `OverviewContext` and one
`StrategiesContext`, then render them to HTML (`publish_site`) and to PDF (`render_report_pdf`).
"""

from pipeline.publish.charts import chart_spec_json, chart_svg, ltv_history_chart
from pipeline.publish.context import OverviewContext, SourceStatus, build_overview_context
from pipeline.publish.pdf import render_report_pdf
from pipeline.publish.site import publish_site
from pipeline.publish.strategies import (
    StrategiesContext,
    StrategyTables,
    build_strategies_context,
    read_strategy_tables,
)

__all__ = [
    "OverviewContext",
    "SourceStatus",
    "StrategiesContext",
    "StrategyTables",
    "build_overview_context",
    "build_strategies_context",
    "chart_spec_json",
    "chart_svg",
    "ltv_history_chart",
    "publish_site",
    "read_strategy_tables",
    "render_report_pdf",
]
