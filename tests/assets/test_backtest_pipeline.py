"""The backtests job on the embedded data: every table filled, one writer, the selloff PDFs."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb
import pytest
from pypdf import PdfReader

from assets.backtest import BACKTEST_ASSETS, EVENT_PARTITIONS
from assets.schedules import all_events_tags
from pipeline.backtest.events import PRESET_IDS
from pipeline.backtest.sweep import sweep_grid
from tests.conftest import PORTFOLIO_2026

BACKTEST_PORTFOLIO = PORTFOLIO_2026 + """
[backtest]
initial_ltv = 0.65
mc_paths = 2000
"""


@pytest.fixture(scope="module")
def backtested(tmp_path_factory: pytest.TempPathFactory, materialize_all):  # noqa: ANN001, ANN201
    from tests.conftest import Sandbox

    box = Sandbox.at(tmp_path_factory.mktemp("backtests"))
    box.write_portfolio(BACKTEST_PORTFOLIO)
    with pytest.MonkeyPatch.context() as patch:
        box.export(patch)
        materialize_all(box.resources())
        result = dg.materialize(BACKTEST_ASSETS, resources=box.resources(),
                                tags=all_events_tags(EVENT_PARTITIONS.get_partition_keys()))
    assert result.success
    return box


def _rows(box, query: str) -> list[tuple]:  # noqa: ANN001
    with duckdb.connect(str(box.warehouse), read_only=True) as conn:
        return conn.execute(query).fetchall()


def test_every_backtest_table_is_filled(backtested):  # noqa: ANN001
    events = {row[0] for row in _rows(backtested, "SELECT event_id FROM analytics.backtest_events")}
    assert events == PRESET_IDS
    assert _rows(backtested, "SELECT count(DISTINCT event_id), count(DISTINCT policy_id) FROM analytics.backtest_runs") \
        == [(11, 9)]
    assert _rows(backtested, "SELECT count(DISTINCT policy_id) FROM analytics.backtest_paths") == [(10,)]
    assert _rows(backtested, "SELECT count(*) FROM analytics.backtest_sweep") == [(len(sweep_grid()),)]
    assert len(sweep_grid()) >= 10_000
    assert _rows(backtested, "SELECT count(*) > 0 FROM analytics.hedge_policy_optimum WHERE kind = 'frontier'") \
        == [(True,)]
    assert _rows(backtested, "SELECT count(*), min(paths), count(DISTINCT horizon_days) "
                             "FROM analytics.margin_call_probability") == [(4 * 9, 2000, 4)]
    assert _rows(backtested, "SELECT count(*) FROM analytics.backtest_runs WHERE run_id = '' OR run_id IS NULL") \
        == [(0,)]


def test_jan_2026_ranking_as_the_readme_shows_it(backtested):  # noqa: ANN001
    """The README query: with an initial LTV of 0.65 the unhedged loan breaches on 2026-02-02 and
    the 3-month ATM put keeps it below the call (the hand case of tests/backtest/test_engine.py)."""
    rows = _rows(backtested, "SELECT rank, policy_id, survived, max_ltv, unhedged_first_breach_date "
                             "FROM analytics.backtest_runs WHERE event_id = 'jan_2026' ORDER BY rank")
    assert {row[4] for row in rows} == {date(2026, 2, 2)}
    atm = next(row for row in rows if row[1] == "protective_put_atm")
    assert atm[2] and atm[3] < 0.75


def test_one_selloff_pdf_per_event(backtested):  # noqa: ANN001
    for event_id in PRESET_IDS:
        pdf = backtested.reports_dir / f"selloff_{event_id}.pdf"
        assert pdf.exists(), pdf
    text = "".join(page.extract_text() for page in PdfReader(backtested.reports_dir / "selloff_jan_2026.pdf").pages)
    assert "2026-01-29" in text and "2026-02-02" in text


def test_selloff_report_job_builds_one_event(backtested):  # noqa: ANN001
    """`make report EVENT=covid_2020` runs this job: one PDF, rebuilt from the stored backtests."""
    from assets.backtest import selloff_reports

    target = backtested.reports_dir / "selloff_covid_2020.pdf"
    target.unlink()
    config = {"ops": {"publish__selloff_reports": {"config": {"event_id": "covid_2020"}}}}
    assert dg.materialize([selloff_reports], resources=backtested.resources(), run_config=config).success
    assert target.exists() and not (backtested.reports_dir / "selloff_jan_2026.pdf").stat().st_size == 0
    bad = {"ops": {"publish__selloff_reports": {"config": {"event_id": "no_such_event"}}}}
    failed = dg.materialize([selloff_reports], resources=backtested.resources(), run_config=bad, raise_on_error=False)
    assert not failed.success


def test_live_selloff_builds_selloff_latest(backtested):  # noqa: ANN001
    """On the last embedded close (2026-10-06, GLD 382.27) GLD is more than 8 % below its 60-day
    high, so the alerts step's selloff rule is active and built selloff_latest.pdf for that window."""
    rows = _rows(backtested, "SELECT rule, event FROM analytics.alerts WHERE rule = 'selloff'")
    assert rows, "the selloff rule should be active on the embedded data"
    text = "".join(page.extract_text() for page in PdfReader(backtested.reports_dir / "selloff_latest.pdf").pages)
    assert "2026-10-06" in text
