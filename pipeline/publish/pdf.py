"""PDF summary for email, rendered with WeasyPrint from the pages' contexts.

Page one is the overview (the same `OverviewContext` as the site's front page); a strategies section
follows on a new page (comparison, recommendation, protection-cost index). WeasyPrint runs no
JavaScript, so charts go in as inline SVG rendered by vl-convert: they stay vector (sharp when
zoomed, labels remain text).
"""

from __future__ import annotations

from pathlib import Path

import weasyprint

from pipeline.publish.charts import ltv_history_chart, protection_cost_chart, svg_markup
from pipeline.publish.context import build_site_header
from pipeline.publish.data import DashboardData
from pipeline.publish.site import OVERVIEW_PAGE, STRATEGIES_PAGE, atomic_write_bytes, template_environment


def render_report_html(data: DashboardData, templates_dir: Path) -> str:
    """The report as print-styled HTML with the charts inlined as SVG."""
    overview = OVERVIEW_PAGE.build_context(data)
    strategies = STRATEGIES_PAGE.build_context(data)
    cost_chart = (svg_markup(protection_cost_chart(strategies.cost_index, width=620, height=110))
                  if strategies.cost_index.height else None)
    template = template_environment(templates_dir).get_template("report.html")
    return template.render(
        ctx=overview,
        site=build_site_header(data),
        chart_svg=svg_markup(ltv_history_chart(overview.history, overview.levels, width=620, height=110)),
        strategies=strategies,
        cost_chart_svg=cost_chart,
    )


def render_report_pdf(data: DashboardData, out_path: Path, templates_dir: Path) -> Path:
    """Write the PDF report to `out_path` atomically and return it."""
    html = render_report_html(data, templates_dir)
    pdf_bytes = weasyprint.HTML(string=html, base_url=str(templates_dir)).write_pdf()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_path, pdf_bytes)
    return out_path
