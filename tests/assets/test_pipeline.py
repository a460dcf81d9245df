"""End to end: every asset and check materialized in-process into a temp DuckDB file."""

from __future__ import annotations

import csv
import shutil
import subprocess
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from pypdf import PdfReader

from pipeline import warehouse
from tests.conftest import PORTFOLIO_2026, Sandbox
from pipeline.paths import EMBEDDED_DATA_DIR


def _embedded_span(file_name: str) -> tuple[int, str, str]:
    """Rows, first and last date of an embedded CSV, read with the csv module (not our loader)."""
    with open(EMBEDDED_DATA_DIR / file_name, newline="") as handle:
        dates = [row["date"] for row in csv.DictReader(handle)]
    return len(dates), dates[0], dates[-1]


class _References(HTMLParser):
    """Every src/href an HTML page would load or link to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def _referenced_urls(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


def _span(conn: duckdb.DuckDBPyConnection, table: str) -> tuple[int, str, str]:
    rows, first, last = conn.execute(f"SELECT count(*), min(date), max(date) FROM {table}").fetchone()
    return rows, str(first), str(last)


def _table_fingerprint(conn: duckdb.DuckDBPyConnection, table: str) -> tuple:
    # fetch times and the writing run's id differ from run to run by design
    return conn.execute(f"SELECT count(*), sum(hash(COLUMNS(* EXCLUDE (fetched_at)))) FROM {table}"
                        if "raw." in table else f"SELECT count(*), sum(hash(COLUMNS(* EXCLUDE (run_id)))) FROM {table}"
                        ).fetchone()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, materialize_all):
    """One full run on the embedded data, shared by the tests that only read it."""
    box = Sandbox.at(tmp_path_factory.mktemp("first_run"))
    box.write_portfolio(PORTFOLIO_2026)
    with pytest.MonkeyPatch.context() as patch:
        box.export(patch)
        result = materialize_all(box.resources())
    assert result.success
    return box, result


@pytest.fixture
def first_run(finished_run):
    return finished_run[1]


@pytest.fixture
def sandbox(finished_run, tmp_path, monkeypatch):
    """A private copy of the finished run, for tests that run again or break something."""
    box = finished_run[0].copy_to(tmp_path / "copy")
    box.export(monkeypatch)
    return box


def test_raw_tables_hold_exactly_the_embedded_history(sandbox, first_run):
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        assert _span(conn, "raw.prices_daily") == _embedded_span("gld_daily.csv") == (
            5504, "2004-11-18", "2026-10-06")
        assert _span(conn, "raw.gvz_daily") == _embedded_span("gvz_daily.csv") == (
            4591, "2008-06-03", "2026-08-28")
        assert _span(conn, "raw.rates_daily") == _embedded_span("tbill_3m_daily.csv") == (
            18144, "1954-01-04", "2026-08-12")
        sources = conn.execute(
            "SELECT DISTINCT source FROM raw.prices_daily UNION SELECT DISTINCT source FROM raw.gvz_daily"
        ).fetchall()
    assert sources == [("embedded",)]


def test_ltv_matches_hand_calculation_on_three_dates(sandbox, first_run):
    """1,000 GLD shares against a $265,000 loan, margin call at 75% LTV.

    margin-call price = 265,000 / (1,000 x 0.75) = 353.3333 on every day.
    2026-01-29 close 495.90: LTV = 265,000 / 495,900 = 0.534382; distance = 1 - 353.3333/495.90 = 0.287491
    2026-07-16 close 364.96: LTV = 265,000 / 364,960 = 0.726107; distance = 1 - 353.3333/364.96 = 0.031857
    2026-10-06 close 382.27: LTV = 265,000 / 382,270 = 0.693227; distance = 1 - 353.3333/382.27 = 0.075697
    """
    expected = {
        date(2026, 1, 29): (495_900.0, 0.534382, 0.287491),
        date(2026, 7, 16): (364_960.0, 0.726107, 0.031857),
        date(2026, 10, 6): (382_270.0, 0.693227, 0.075697),
    }
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        rows = conn.execute(
            "SELECT date, collateral_value, ltv, margin_call_price, distance_to_margin_call "
            "FROM analytics.ltv_daily WHERE date IN (?, ?, ?) ORDER BY date", list(expected)
        ).fetchall()
        first_day, days = conn.execute("SELECT min(date), count(*) FROM analytics.ltv_daily").fetchone()
    assert first_day == date(2026, 1, 2)
    assert days == 191  # GLD sessions 2026-01-02 .. 2026-10-06 in the embedded file
    for day, collateral, ltv, call_price, distance in rows:
        want_collateral, want_ltv, want_distance = expected[day]
        assert collateral == pytest.approx(want_collateral, abs=1e-6)
        assert ltv == pytest.approx(want_ltv, abs=5e-7)
        assert call_price == pytest.approx(353.333333, abs=5e-7)
        assert distance == pytest.approx(want_distance, abs=5e-7)


def test_outputs_exist_pdf_shows_ltv_and_site_is_offline(sandbox, first_run):
    pdfs = sorted(sandbox.reports_dir.glob("*.pdf"))
    # the summary, and the live selloff report (GLD is 8 % off its 60-day high on 2026-10-06)
    assert [p.name for p in pdfs] == ["selloff_latest.pdf", "vault_summary_2026-10-06.pdf"]
    text = "".join(page.extract_text() for page in PdfReader(pdfs[1]).pages)
    assert "69.3%" in text  # 265,000 / 382,270 on the last day
    html = (sandbox.site_dir / "index.html").read_text()
    assert "69.3%" in html
    external = [url for url in _referenced_urls(html) if url.startswith(("http:", "https:", "//"))]
    assert external == []
    assert "cdn" not in html.lower()
    assert (sandbox.site_dir / "assets" / "vega-bundle.js").stat().st_size > 100_000


def test_checks_pass_on_embedded_data_and_say_so(first_run):
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e
                   for e in first_run.get_asset_check_evaluations()}
    assert len(evaluations) == 12
    assert all(e.passed for e in evaluations.values()), [
        k for k, e in evaluations.items() if not e.passed]
    fresh = evaluations[("raw/prices_daily", "fresh")]
    assert fresh.metadata["status"].value == "embedded"
    assert "embedded data through 2026-10-06" in fresh.description


def test_rematerializing_never_duplicates_rows(sandbox, first_run, materialize_all):
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        before = {t: _table_fingerprint(conn, t) for t in
                  ("raw.prices_daily", "raw.gvz_daily", "raw.rates_daily", "analytics.ltv_daily")}
    assert materialize_all(sandbox.resources()).success
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        after = {t: _table_fingerprint(conn, t) for t in before}
        log_rows, raw_tables = conn.execute(
            "SELECT count(*), count(DISTINCT table_name) FROM raw.ingest_log").fetchone()
    assert after == before
    assert log_rows == 2 * raw_tables  # one ingest-log row per raw table per run: a log, not a duplicate


def test_failed_late_step_leaves_previous_tables_intact(sandbox, first_run, materialize_all):
    """A run whose PDF step fails (its output folder is a file) keeps every table as it was."""
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        before = {t: _table_fingerprint(conn, t) for t in
                  ("raw.prices_daily", "raw.gvz_daily", "raw.rates_daily", "analytics.ltv_daily")}
    shutil.rmtree(sandbox.reports_dir)
    sandbox.reports_dir.write_text("not a folder")
    result = materialize_all(sandbox.resources(), raise_on_error=False)
    assert not result.success
    failed = {e.step_key for e in result.all_events if e.is_step_failure}
    assert failed == {"publish__report_pdf"}
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        assert {t: _table_fingerprint(conn, t) for t in before} == before


def test_failing_analytics_step_keeps_the_previous_ltv(sandbox, first_run, materialize_all):
    """A portfolio starting after the last close fails in ltv_daily; yesterday's rows survive."""
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        before = _table_fingerprint(conn, "analytics.ltv_daily")
    sandbox.write_portfolio(sandbox.portfolio.read_text().replace("2026-01-02", "2027-01-04"))
    result = materialize_all(sandbox.resources(), raise_on_error=False)
    failed = {e.step_key for e in result.all_events if e.is_step_failure}
    assert "analytics__ltv_daily" in failed
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        assert _table_fingerprint(conn, "analytics.ltv_daily") == before


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("shares = 1000", "shares = -5", "collateral.shares"),
        ("amount = 265000.0", "amount = 0", "loan.amount"),
        ("margin_call_ltv = 0.75", "margin_call_ltv = 1.0", "loan.margin_call_ltv"),
        ("[loan]", "[loan]\nhaircut = 0.1", "loan.haircut"),
    ],
)
def test_bad_portfolio_stops_the_run_before_anything_is_written(tmp_path, monkeypatch, materialize_all,
                                                               old, new, field):
    sandbox = Sandbox.at(tmp_path)
    sandbox.export(monkeypatch)
    sandbox.write_portfolio(PORTFOLIO_2026.replace(old, new))
    result = materialize_all(sandbox.resources(), raise_on_error=False)
    assert not result.success
    errors = [e.event_specific_data.error for e in result.all_events
              if getattr(e.event_specific_data, "error", None)]
    assert any(field in error.to_string() and new.split("=")[-1].strip() in error.to_string()
               for error in errors), [error.message for error in errors]
    assert not sandbox.warehouse.exists()
    assert not sandbox.site_dir.exists() and not sandbox.reports_dir.exists()


def test_duckdb_cli_from_pypi_reads_the_file(sandbox, first_run):
    """The warehouse opens read-only in duckdb-cli 1.5.x (it cannot read 2.x storage)."""
    cli = shutil.which("duckdb", path=str(Path(__file__).resolve().parents[2] / ".venv" / "bin"))
    assert cli, "duckdb-cli is a dev dependency; uv sync installs it into .venv/bin"
    version = subprocess.run([cli, "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("v1.")
    out = subprocess.run(
        [cli, "-readonly", "-csv", str(sandbox.warehouse), "-c",
         "SELECT count(*) AS n, max(date) AS last FROM raw.prices_daily WHERE symbol = 'GLD'"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert out.split() == ["n,last", "5504,2026-10-06"]


STRATEGY_TABLES = ("analytics.strategy_comparison", "analytics.order_preview", "analytics.strategy_scenarios",
                   "analytics.strategy_payoff", "analytics.strategy_recommendation",
                   "analytics.strategy_sensitivity", "analytics.protection_signal", "analytics.tail_risk_daily",
                   "analytics.protection_cost_index", "analytics.strategy_templates",
                   "analytics.strategy_template_legs")
CHEAPEST_WITH_BUFFER = """
SELECT template_id, cost_at_fill, fall_to_margin_call_hedged_pct
FROM analytics.strategy_comparison_latest
WHERE status = 'ok' AND fall_to_margin_call_hedged_pct >= 0.20
ORDER BY cost_at_fill LIMIT 1
"""


def test_strategy_engine_fills_every_table_for_the_chain_day(sandbox, first_run):
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in STRATEGY_TABLES}
        days = conn.execute("SELECT DISTINCT as_of, chain_source, status FROM analytics.strategy_comparison").fetchall()
        picks = conn.execute("SELECT risk_profile, count(*) FROM analytics.strategy_recommendation "
                             "WHERE rank = 1 GROUP BY ALL ORDER BY 1").fetchall()
        index_sources = conn.execute("SELECT DISTINCT source FROM analytics.protection_cost_index").fetchall()
    assert days == [(date(2026, 10, 6), "model", "ok")]
    assert counts == {
        "analytics.strategy_comparison": 8, "analytics.order_preview": 13,
        "analytics.strategy_scenarios": 8 * 15 * 3 * 3, "analytics.strategy_payoff": 8 * 2 * 81,
        "analytics.strategy_recommendation": 8 * 3, "analytics.strategy_sensitivity": 3 * 5 * 7,
        "analytics.protection_signal": counts["analytics.protection_signal"],
        "analytics.tail_risk_daily": 191, "analytics.protection_cost_index": 5504,
        "analytics.strategy_templates": 8, "analytics.strategy_template_legs": 13,
    }
    assert counts["analytics.protection_signal"] > 4000  # every day with GVZ (or its proxy) and hv20
    assert picks == [("aggressive", 1), ("balanced", 1), ("conservative", 1)]
    assert index_sources == [("synthetic",)]  # the only snapshot is the model chain: not a market quote


def test_comparison_cost_is_the_stored_ask_and_the_call_price_the_loan_formula(sandbox, first_run):
    """protective_put_95 on 2026-10-06 (GLD 382.27): target 0.95 x 382.27 = 363.16, nearest listed
    strike 365 on the expiry nearest 91 days (2027-01-15, 101 days); 1,000 shares = 10 contracts, so
    cost_at_fill = 1,000 x that put's ask in analytics.chain_latest. Unhedged call price =
    265,000 / (1,000 x 0.75) = 353.33."""
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        ask = conn.execute("SELECT ask FROM analytics.chain_latest WHERE contract = 'GLD270115P00365000'").fetchone()[0]
        row = conn.execute("SELECT contracts, cost_at_fill, unhedged_margin_call_price, dte FROM "
                           "analytics.strategy_comparison_latest WHERE template_id = 'protective_put_95'").fetchone()
        cheapest = conn.execute(CHEAPEST_WITH_BUFFER).fetchall()
    assert row[0] == 10 and row[1] == pytest.approx(1000 * ask, abs=1e-9)
    assert row[2] == pytest.approx(353.333333, abs=5e-7) and row[3] == 101
    assert len(cheapest) == 1 and cheapest[0][2] >= 0.20


def test_strategy_days_are_recomputed_only_when_their_inputs_change(sandbox, first_run, materialize_all):
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        before = {t: _table_fingerprint(conn, t) for t in STRATEGY_TABLES}
    assert materialize_all(sandbox.resources()).success
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        assert {t: _table_fingerprint(conn, t) for t in STRATEGY_TABLES} == before
    sandbox.write_portfolio(sandbox.portfolio.read_text().replace("amount = 265000.0", "amount = 255000.0"))
    assert materialize_all(sandbox.resources()).success
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        loans = conn.execute("SELECT DISTINCT loan FROM analytics.strategy_comparison").fetchall()
        rows = conn.execute("SELECT count(*) FROM analytics.strategy_scenarios").fetchone()[0]
    assert loans == [(255000.0,)] and rows == 1080


def test_every_analytics_row_carries_the_run_and_the_methodology(sandbox, first_run):
    from pipeline.methodology import METHODOLOGY_VERSION

    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        tables = [t for (t,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analytics' "
            "AND table_type = 'BASE TABLE' ORDER BY 1").fetchall()]
        stamps = {t: conn.execute(f"SELECT DISTINCT run_id, methodology_version FROM analytics.{t}").fetchall()
                  for t in tables}
    assert len(tables) >= 16
    filled = {t for t, rows in stamps.items() if rows}
    backtests = {"backtest_events", "backtest_runs", "backtest_paths", "backtest_sweep", "hedge_policy_optimum",
                 "margin_call_probability"}  # the backtests job's (tests/assets/test_backtest_pipeline.py)
    assert filled == set(tables) - {"positions_daily"} - backtests  # this portfolio holds no hedges
    assert {t: stamps[t] for t in filled} == {t: [(first_run.run_id, METHODOLOGY_VERSION)] for t in filled}


def test_the_audit_export_pins_every_published_figure(sandbox, first_run):
    """build/audit/<as_of>/: one Parquet per published table or view and a manifest whose rows and
    sha256 match the files, naming this run and the methodology and code versions."""
    import hashlib
    import json

    import polars as pl

    from pipeline.audit import AUDITED
    from pipeline.methodology import METHODOLOGY_VERSION

    folder = sandbox.audit_dir / "2026-10-06"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["run_id"], manifest["methodology_version"]) == (first_run.run_id, METHODOLOGY_VERSION)
    assert manifest["code_version"]
    assert [entry["table"] for entry in manifest["tables"]] == list(AUDITED)
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        for entry in manifest["tables"]:
            path = folder / entry["file"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
            exported = pl.read_parquet(path)
            assert exported.height == entry["rows"], entry["table"]
            # this portfolio holds no hedges and its LTV stays under every alert level
            assert entry["rows"] > 0 or entry["table"] in ("analytics.positions_daily", "analytics.alerts")
            if entry["table"] in ("analytics.ltv_daily", "analytics.protection_cost_index"):
                assert exported.equals(conn.sql(f"SELECT * FROM {entry['table']}").pl())
    assert not list(sandbox.audit_dir.glob(".*"))  # no staging left behind


def test_prices_without_a_chain_publish_ltv_and_say_partial(sandbox, first_run, materialize_all):
    """Partial-data mode: a GLD close on 2026-10-07 arrives but no chain snapshot for it (only the
    price-driven assets rematerialised, as from the UI). LTV is published for the new day; the ingest
    status (which the site's banner shows) and the data_stale alert say the chain figures are older."""
    import dagster as dg

    from assets.definitions import ALL_ASSETS

    with warehouse.open_warehouse(sandbox.warehouse) as conn:
        conn.execute("INSERT INTO raw.prices_daily SELECT symbol, DATE '2026-10-07', open, high, low, close * 0.99, "
                     "volume, source, fetched_at FROM raw.prices_daily WHERE date = DATE '2026-10-06'")
    keep = ["analytics/positions_daily", "analytics/ltv_daily", "analytics/alerts"]
    result = dg.materialize(ALL_ASSETS, resources=sandbox.resources(),
                            selection=dg.AssetSelection.assets(*[dg.AssetKey.from_user_string(k) for k in keep]))
    assert result.success
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        status, reason = conn.execute(
            "SELECT status, reason FROM raw.ingest_status WHERE table_name = 'raw.option_quotes'").fetchone()
        ltv_day = conn.execute("SELECT max(date) FROM analytics.ltv_daily").fetchone()[0]
        alert = conn.execute("SELECT message FROM analytics.alerts WHERE rule = 'data_stale' "
                             "AND subject = 'raw.option_quotes'").fetchall()
    assert ltv_day == date(2026, 10, 7)
    assert status == "partial"
    assert reason.startswith("no option chain for 2026-10-07 (latest snapshot 2026-10-06)")
    assert len(alert) == 1 and "partial" in alert[0][0]
