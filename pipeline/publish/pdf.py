"""PDF summary for email, rendered with WeasyPrint from the pages' contexts.

Page one is the overview; with a strategies context a strategies section follows on a new page
(comparison, recommendation, protection-cost index). WeasyPrint runs no JavaScript, so charts go
in as inline SVG rendered by vl-convert: they stay vector (sharp when zoomed, labels remain text).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import weasyprint

from pipeline.publish.charts import ltv_history_chart, protection_cost_chart, svg_markup
from pipeline.publish.context import OverviewContext
from pipeline.publish.site import atomic_write_bytes, template_environment
from pipeline.publish.strategies import StrategiesContext


def render_report_html(
    context: OverviewContext, ltv: pl.DataFrame, templates_dir: Path, strategies: StrategiesContext | None = None
) -> str:
    """The report as print-styled HTML with the charts inlined as SVG."""
    cost_chart = (svg_markup(protection_cost_chart(strategies.cost_index, width=620, height=170))
                  if strategies is not None and strategies.cost_index.height else None)
    template = template_environment(templates_dir).get_template("report.html")
    return template.render(
        ctx=context,
        chart_svg=svg_markup(ltv_history_chart(ltv, width=620, height=220)),
        strategies=strategies,
        cost_chart_svg=cost_chart,
    )


def render_report_pdf(
    context: OverviewContext,
    ltv: pl.DataFrame,
    out_path: Path,
    templates_dir: Path,
    *,
    strategies: StrategiesContext | None = None,
) -> Path:
    """Write the PDF report to `out_path` atomically and return it; one page without `strategies`."""
    html = render_report_html(context, ltv, templates_dir, strategies)
    pdf_bytes = weasyprint.HTML(string=html, base_url=str(templates_dir)).write_pdf()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_path, pdf_bytes)
    return out_path
