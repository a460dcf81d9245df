"""The emailed PDF: the overview first (a page or two, by how many hedges and alerts there are) with
the same figures as the site, the strategies section on its own pages, vector charts."""

from __future__ import annotations

import os
from pathlib import Path

import pypdf
import pytest

from pipeline.publish.data import DashboardData
from pipeline.publish.overview import build_overview_context
from pipeline.publish.formatting import format_pct, format_usd
from pipeline.publish.pdf import render_report_pdf


@pytest.fixture(scope="module")
def report_pdf(dashboard_data: DashboardData, templates_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_path = tmp_path_factory.mktemp("report") / "ltv-report.pdf"
    rendered = render_report_pdf(dashboard_data, out_path, templates_dir)
    if keep_dir := os.environ.get("VAULT_KEEP_PDF_DIR"):  # opt-in: keep a copy to look at
        Path(keep_dir, out_path.name).write_bytes(rendered.read_bytes())
    return rendered


def overview_pages(report: Path) -> list[pypdf.PageObject]:
    """The pages before the strategies section."""
    pages = pypdf.PdfReader(report).pages
    first_strategies = next(i for i, page in enumerate(pages) if "Hedging strategies" in page.extract_text())
    return list(pages[:first_strategies])


def overview_text(report: Path) -> str:
    return " ".join(" ".join(page.extract_text() for page in overview_pages(report)).split())


def test_report_is_written_atomically_with_the_overview_first(report_pdf: Path) -> None:
    assert 1 <= len(overview_pages(report_pdf)) <= 2
    assert [path.name for path in report_pdf.parent.iterdir()] == ["ltv-report.pdf"]  # no temp file left


def test_report_shows_the_same_figures_as_the_site(report_pdf: Path, dashboard_data: DashboardData) -> None:
    text = overview_text(report_pdf)
    context = build_overview_context(dashboard_data)

    for figure in ("65.4%", "$333.33", "$382.27", "12.8%", "$277.78", "$20,638", "2026-10-06",
                   format_pct(context.hedged_ltv), format_usd(context.hedged_margin_call_price, 2),
                   "Stale or partial data: 3-month T-bill is stale", "option chain: model, not market quotes",
                   "oct-400-put", "ROLL", "hedge_expiring", "protection rich"):
        assert figure in text, figure


def test_chart_and_gauge_are_vector_with_text_labels(report_pdf: Path) -> None:
    text = overview_text(report_pdf)

    assert all(list(page.images) == [] for page in overview_pages(report_pdf))  # paths and text, not pixels
    assert "Loan-to-value" in text and "Critical / margin call 75%" in text and "Warn 70%" in text
    assert "Liquidation 90%" in text and "Target 60%" in text  # the gauge's ticks
    assert "October" in text  # an x-axis tick label
