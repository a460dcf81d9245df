"""One-page PDF summary for email, rendered with WeasyPrint from the page's context.

WeasyPrint runs no JavaScript, so the LTV chart goes in as inline SVG rendered by
vl-convert: it stays vector (sharp when zoomed, axis labels remain text).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import weasyprint
from markupsafe import Markup

from pipeline.publish.charts import chart_svg, ltv_history_chart
from pipeline.publish.context import OverviewContext
from pipeline.publish.site import atomic_write_bytes, template_environment


def render_report_html(context: OverviewContext, ltv: pl.DataFrame, templates_dir: Path) -> str:
    """The report as print-styled HTML with the chart inlined as SVG."""
    chart = ltv_history_chart(ltv, width=620, height=220)
    template = template_environment(templates_dir).get_template("report.html")
    return template.render(ctx=context, chart_svg=Markup(chart_svg(chart)))


def render_report_pdf(context: OverviewContext, ltv: pl.DataFrame, out_path: Path, templates_dir: Path) -> Path:
    """Write the one-page PDF report to `out_path` atomically and return it."""
    html = render_report_html(context, ltv, templates_dir)
    pdf_bytes = weasyprint.HTML(string=html, base_url=str(templates_dir)).write_pdf()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_path, pdf_bytes)
    return out_path
