"""Selloff PDFs, one per backtest event, read back with pypdf (figures from backtest_rows.py).

In the 2008 crisis the collar ranks first (63.2 % for $360) and the unhedged loan, last, hits the
75 % call on 2008-08-15; in the 2020 crash the 90 % put and the unhedged loan both hit it on
2020-03-16. Today's scenario table is the strategy fixture's (conftest.py): unhedged, GLD 382.27 and
a 250,000 loan give 250,000 / 382,270 = 65.4 % at 0 % and 250,000 / (0.7 x 382,270) = 93.4 % at -30 %.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import polars as pl
import pypdf
import pytest

from pipeline.publish.backtests import event_outcomes, policy_names
from pipeline.publish.data import DashboardData
from pipeline.publish.selloff import (
    SelloffReport,
    render_all_selloff_pdfs,
    render_selloff_pdf,
    selloff_pdf_name,
    selloff_report,
)
from pipeline.publish.strategies import StrategyTables

from .backtest_rows import backtest_data, backtest_tables  # noqa: F401  (fixtures)
from .conftest import GENERATED_AT, PORTFOLIO_NAME
from .test_site import XSS_PROBE

COLLAR, PUT_95, SPREAD = "Collar 95 / 110 % (3 m)", "Protective put 95 % (3 m)", "Put spread 95 / 80 % (3 m)"
# backtest_rows.py's highlight colour of a first margin-call date (#fbe3a6) as WeasyPrint fills it
HIGHLIGHT_FILL = re.compile(rb"0\.984\d* 0\.890\d* 0\.650\d* rg")


@pytest.fixture(scope="module")
def selloff_pdfs(backtest_data: DashboardData, templates_dir: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return render_all_selloff_pdfs(backtest_data, tmp_path_factory.mktemp("reports"), templates_dir)


def pdf_text(path: Path) -> str:
    return " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(path).pages).split())


def highlights(path: Path) -> int:
    """How many rectangles the PDF fills in the breach highlight's colour."""
    return sum(len(HIGHLIGHT_FILL.findall(page.get_contents().get_data())) for page in pypdf.PdfReader(path).pages)


def ranking_text(text: str) -> str:
    """The ranking table's text (pypdf reads it after the section notes)."""
    return text.split("Rank Policy Survived Max LTV First margin call", 1)[1]


def test_one_pdf_per_event_written_atomically(selloff_pdfs: list[Path]) -> None:
    assert [path.name for path in selloff_pdfs] == ["selloff_gfc_2008.pdf", "selloff_covid_2020.pdf",
                                                    "selloff_full.pdf"]
    written = sorted(path.name for path in selloff_pdfs[0].parent.iterdir())
    assert written == sorted([p.name for p in selloff_pdfs] + [f".{p.name}.sha256" for p in selloff_pdfs])


def test_report_says_what_happened(selloff_pdfs: list[Path]) -> None:
    text = pdf_text(selloff_pdfs[0])

    assert f"{PORTFOLIO_NAME} Selloff report: Global financial crisis 2008 (gfc_2008)" in text
    assert ("2008-03-17 to 2008-11-12: GLD $99.17 to a low of $70.00 on 2008-11-12, a drawdown of -29.4%; the path "
            "runs 20 trading days past the end, to 2008-12-11 (189 closes") in text
    assert "low $70.00 on 2008-11-12" in text  # the GLD chart's marker, drawn as text
    assert all(list(page.images) == [] for page in pypdf.PdfReader(selloff_pdfs[0]).pages)  # vector charts


def test_templates_are_ranked_by_survival_max_ltv_and_cost(selloff_pdfs: list[Path]) -> None:
    ranking = ranking_text(pdf_text(selloff_pdfs[0]))

    for line in (f"1 {COLLAR} yes 63.2% 2008-03-19 none $360 0.49% $13,560 $34,348",
                 f"2 {PUT_95} yes 63.2% 2008-03-19 none $4,580 6.27% $13,560 $30,128",
                 "3 protective_put_90 yes 66.7% 2008-04-01 none $2,850 3.90% $8,600 $26,898",
                 f"4 {SPREAD} yes 70.1% 2008-11-12 none $3,770 5.16% $13,560 $30,938",
                 "5 Unhedged no 85.0% 2008-11-12 2008-08-15 $0 0.00% $0 $21,148"):
        assert line in ranking, line
    positions = [ranking.index(name) for name in (COLLAR, PUT_95, "protective_put_90", SPREAD, "5 Unhedged")]
    assert positions == sorted(positions)


def test_first_margin_call_dates_are_highlighted(selloff_pdfs: list[Path]) -> None:
    gfc, covid, full = selloff_pdfs

    assert (highlights(gfc), highlights(covid), highlights(full)) == (1, 2, 0)  # one per breached run
    assert "4 protective_put_90 no 75.6% 2020-03-18 2020-03-16" in ranking_text(pdf_text(covid))
    assert "A highlighted date is the first margin call" in pdf_text(covid)


def test_unhedged_and_hedged_paths_are_charted_together(selloff_pdfs: list[Path]) -> None:
    text = pdf_text(selloff_pdfs[0])

    for label in ("Loan-to-value", "Margin call 75%", COLLAR, "protective_put_90", "Unhedged"):
        assert label in text, label
    assert ("Unhedged, LTV peaked at 85.0% on 2008-11-12 and hit the 75.0% margin call on 2008-08-15. 4 of 4 "
            f"hedged policies kept LTV below it; the best, {COLLAR}, peaked at 63.2% for $360.") in text
    full = pdf_text(selloff_pdfs[2])
    assert "(monthly highs)" in full and "GLD close, monthly lows" in full  # the 5,504-day history
    assert "low $41.26 on 2005-02-08" in full  # monthly lows keep the day of the low


def test_report_ends_with_todays_scenarios_and_recommendation(selloff_pdfs: list[Path]) -> None:
    pages = pypdf.PdfReader(selloff_pdfs[0]).pages
    last = " ".join(pages[-1].extract_text().split())

    assert len(pages) >= 2 and "Today's scenarios, on the 2026-10-06 chain" in last
    unhedged = last.split("Unhedged ", 1)[1].split()[:11]
    assert unhedged == ["130.8%", "109.0%", "93.4%", "81.7%", "76.9%", "72.7%", "68.8%", "65.4%", "62.3%", "59.5%",
                        "54.5%"]  # 250,000 / (382,270 x (1 + move)), -50% .. +20%
    assert "-50% -40% -30% -20% -15% -10% -5% 0% +5% +10% +20%" in last
    assert "Today's recommendation" in last and "YOUR PROFILE" in last
    assert "Pick: Protective put 95 % (3 m)" in last
    assert "Covers the margin call with no upside cap; best protection per dollar." in last


def test_latest_window_is_compared_with_the_historical_events(backtest_data: DashboardData, templates_dir: Path,
                                                             tmp_path: Path) -> None:
    """The engine's 'latest' window is not in backtest_events; its report lists the matching past events."""
    tables = backtest_data.backtests
    latest = {**tables.events.filter(pl.col("event_id") == "covid_2020").row(0, named=True),
              "event_id": "latest", "label": "Current window since 2026-09-01", "source": "live"}
    report = SelloffReport(
        portfolio_name=PORTFOLIO_NAME, generated_at=GENERATED_AT, event=latest,
        runs=tables.runs.filter(pl.col("event_id") == "covid_2020").with_columns(event_id=pl.lit("latest")),
        paths=tables.paths.filter(pl.col("event_id") == "covid_2020").with_columns(event_id=pl.lit("latest")),
        scenarios=backtest_data.strategies.scenarios, recommendation=backtest_data.strategies.recommendation,
        comparison=event_outcomes(tables.events.filter(pl.col("event_id") != "full"), tables.runs),
        names=policy_names(backtest_data.strategies.comparison),
    )
    text = pdf_text(render_selloff_pdf(report, tmp_path / selloff_pdf_name("latest"), templates_dir))

    assert "Selloff report: Current window since 2026-09-01 (latest)" in text
    assert "Compared with past selloffs" in text
    assert f"Global financial crisis 2008 gfc_2008 -29.4% 189 {COLLAR} margin call" in text
    assert f"COVID-19 crash 2020 covid_2020 -12.5% 29 {COLLAR} margin call" in text
    assert "Whole history since 2004" not in text
    assert "5 Unhedged no 77.7% 2020-03-19 2020-03-16" in ranking_text(text)
    assert (tmp_path / "selloff_latest.pdf").is_file()


def test_preset_reports_have_no_comparison_section(selloff_pdfs: list[Path]) -> None:
    assert "Compared with past selloffs" not in pdf_text(selloff_pdfs[0])


def test_before_the_strategy_engine_has_run_the_report_says_so(
        backtest_data: DashboardData, empty_strategy_tables: StrategyTables, templates_dir: Path,
        tmp_path: Path) -> None:
    data = replace(backtest_data, strategies=empty_strategy_tables)
    text = pdf_text(render_selloff_pdf(selloff_report(data, "gfc_2008"), tmp_path / "r.pdf", templates_dir))

    assert "there is no scenario table for today" in text and "there is no recommendation for today" in text
    assert "2 protective_put_95 yes 63.2%" in ranking_text(text)  # no template names to show: the ids


def test_hostile_names_show_as_text_in_the_pdf(backtest_data: DashboardData, templates_dir: Path,
                                               tmp_path: Path) -> None:
    tables = backtest_data.backtests
    hostile = replace(
        backtest_data, portfolio_name=XSS_PROBE,
        backtests=replace(tables, events=tables.events.with_columns(label=pl.lit(XSS_PROBE))),
        strategies=replace(backtest_data.strategies, comparison=backtest_data.strategies.comparison.with_columns(
            pl.when(pl.col("template_id") == "collar_95_110").then(pl.lit(XSS_PROBE)).otherwise("display_name")
            .alias("display_name"))),
    )
    text = pdf_text(render_selloff_pdf(selloff_report(hostile, "gfc_2008"), tmp_path / "r.pdf", templates_dir))

    assert text.count(XSS_PROBE) >= 6  # masthead, title, heading, ranking, legend, scenarios, recommendation
    assert f"1 {XSS_PROBE} yes 63.2%" in ranking_text(text)


def test_unknown_events_and_unsafe_ids_are_refused(backtest_data: DashboardData) -> None:
    with pytest.raises(KeyError, match="no backtest event 'dot_com_2000'"):
        selloff_report(backtest_data, "dot_com_2000")
    for event_id in ("../index", "a/b", "", "x" * 81):
        with pytest.raises(ValueError, match="cannot name a report file"):
            selloff_pdf_name(event_id)
    assert selloff_pdf_name("gfc_2008") == "selloff_gfc_2008.pdf"


def test_unchanged_reports_are_not_rewritten(tmp_path, dashboard_data, templates_dir):  # noqa: ANN001
    """A second pass over the same tables keeps every PDF's bytes (and mtime); a changed event's
    rows rewrite that event's PDF only."""
    import dataclasses

    import polars as pl

    from pipeline.publish.selloff import render_all_selloff_pdfs

    first = render_all_selloff_pdfs(dashboard_data, tmp_path, templates_dir)
    stamps = {p.name: p.stat().st_mtime_ns for p in first}
    later = dataclasses.replace(dashboard_data, generated_at=dashboard_data.generated_at.replace(year=2030))
    assert {p.name: p.stat().st_mtime_ns for p in render_all_selloff_pdfs(later, tmp_path, templates_dir)} == stamps
    tables = dashboard_data.backtests
    changed_id = tables.events["event_id"][0]
    runs = tables.runs.with_columns(
        final_equity=pl.when(pl.col("event_id") == changed_id).then(pl.col("final_equity") + 1.0)
        .otherwise(pl.col("final_equity")))
    edited = dataclasses.replace(dashboard_data, backtests=dataclasses.replace(tables, runs=runs))
    after = {p.name: p.stat().st_mtime_ns for p in render_all_selloff_pdfs(edited, tmp_path, templates_dir)}
    assert [name for name in after if after[name] != stamps[name]] == [f"selloff_{changed_id}.pdf"]
