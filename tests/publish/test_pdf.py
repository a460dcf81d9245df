"""The emailed PDF: one page, same figures as the site, vector chart."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pypdf
import pytest

from pipeline.publish.context import OverviewContext
from pipeline.publish.pdf import render_report_pdf


@pytest.fixture(scope="module")
def report_pdf(
    overview_context: OverviewContext,
    ltv_frame: pl.DataFrame,
    templates_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    out_path = tmp_path_factory.mktemp("report") / "ltv-report.pdf"
    rendered = render_report_pdf(overview_context, ltv_frame, out_path, templates_dir)
    if keep_dir := os.environ.get("VAULT_KEEP_PDF_DIR"):  # opt-in: keep a copy to look at
        Path(keep_dir, out_path.name).write_bytes(rendered.read_bytes())
    return rendered


def test_report_is_a_single_readable_page(report_pdf: Path) -> None:
    reader = pypdf.PdfReader(report_pdf)

    assert len(reader.pages) == 1
    assert [path.name for path in report_pdf.parent.iterdir()] == ["ltv-report.pdf"]  # no temp file left


def test_report_shows_the_same_figures_as_the_site(report_pdf: Path) -> None:
    text = pypdf.PdfReader(report_pdf).pages[0].extract_text()

    for figure in ("65.4%", "$333.33", "$382.27", "12.8%", "$250,000", "2026-10-06", "stale: yfinance unreachable"):
        assert figure in text, figure


def test_chart_is_vector_with_text_axis_labels(report_pdf: Path) -> None:
    page = pypdf.PdfReader(report_pdf).pages[0]
    text = page.extract_text()

    assert list(page.images) == []  # the SVG was drawn as paths and text, not rasterised
    assert "Loan-to-value" in text and "Margin call 75%" in text
    assert "Jan 2026" in text  # an x-axis tick label
