"""Analytics refuse to publish on price data that failed a blocking check.

A real in-process run of every asset and check on the embedded data, in a temporary warehouse;
then a bad GLD bar is stored after the embedded history (2026-10-07, the day after the last
embedded session: kept by the ingest on the next run, as a live bar would be) and everything is
materialized again. `raw/prices_daily:plausible_values` is blocking, so the run must stop after
the raw tables: no LTV, hedge or strategy step runs, the site and the PDF are not rewritten, the
previous `analytics.ltv_daily` rows stay as they were, and the check's result says what is wrong
and on which day.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import warehouse
from tests.conftest import PORTFOLIO_2026, Sandbox

pytestmark = pytest.mark.slow
BAD_DAY = "2026-10-07"
LAST_GOOD_DAY = "2026-10-06"
DOWNSTREAM = ("analytics/ltv_daily", "analytics/positions_daily", "analytics/alerts", "publish/site",
              "publish/report_pdf")
ANALYTICS_TABLES = ("analytics.ltv_daily", "analytics.positions_daily", "analytics.option_valuations")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, materialize_all) -> Sandbox:
    """One full run on the embedded data; every check passes."""
    box = Sandbox.at(tmp_path_factory.mktemp("blocking_first_run"))
    box.write_portfolio(PORTFOLIO_2026)
    with pytest.MonkeyPatch.context() as patch:
        box.export(patch)
        result = materialize_all(box.resources())
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    return box


def _outputs(box: Sandbox) -> dict[str, object]:
    """What a published run leaves behind: analytics rows (without run ids), site and PDF bytes."""
    with warehouse.open_warehouse(box.warehouse, read_only=True) as conn:
        tables = {t: conn.execute(f"SELECT count(*), sum(hash(COLUMNS(* EXCLUDE (run_id)))) FROM {t}").fetchone()
                  for t in ANALYTICS_TABLES}
        last_ltv_day = str(conn.execute("SELECT max(date) FROM analytics.ltv_daily").fetchone()[0])
    files = {str(p.relative_to(box.root)): p.read_bytes()
             for folder in (box.site_dir, box.reports_dir) for p in sorted(folder.rglob("*")) if p.is_file()}
    return {"tables": tables, "last_ltv_day": last_ltv_day, "files": files}


def _downstream_of_prices() -> set[str]:
    """Every asset computed, directly or not, from raw/prices_daily."""
    import dagster as dg

    from assets.definitions import defs

    graph = defs.resolve_asset_graph()
    found: set[dg.AssetKey] = set()
    todo = [dg.AssetKey(["raw", "prices_daily"])]
    while todo:
        for child in graph.get(todo.pop()).child_keys:
            if child not in found:
                found.add(child)
                todo.append(child)
    return {key.to_user_string() for key in found}


def _store_bad_bar(box: Sandbox, open_: float, high: float, low: float, close: float) -> None:
    with warehouse.open_warehouse(box.warehouse) as conn:
        conn.execute("INSERT INTO raw.prices_daily SELECT symbol, DATE '2026-10-07', ?, ?, ?, ?, volume, "
                     "'yfinance', fetched_at FROM raw.prices_daily WHERE date = DATE '2026-10-06'",
                     [open_, high, low, close])


@pytest.mark.parametrize(("bar", "reason"), [
    # an unadjusted 2:1 split: every price halves overnight (382.27 -> 191.135)
    ((191.10, 192.0, 190.0, 191.135), "one-day jump x0.5 in close (382.27 on 2026-10-06 -> 191.135)"),
    # a zero close (a bad print)
    ((381.0, 383.0, 379.0, 0.0), "non-positive close (0.0)"),
], ids=["split", "zero_close"])
def test_a_failed_price_check_stops_analytics_and_publishing(finished_run, tmp_path, monkeypatch,
                                                            materialize_all, bar, reason) -> None:
    box = finished_run.copy_to(tmp_path / "run")
    box.export(monkeypatch)
    before = _outputs(box)
    assert before["last_ltv_day"] == LAST_GOOD_DAY and before["files"]
    _store_bad_bar(box, *bar)

    result = materialize_all(box.resources(), raise_on_error=False)

    assert not result.success
    evaluation = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    check = evaluation[("raw/prices_daily", "plausible_values")]
    assert not check.passed
    assert f"{BAD_DAY} {reason}" in check.description, check.description
    assert check.metadata["first_bad_dates"].value == [BAD_DAY]
    # the run says which blocking check stopped it
    failures = [str(e.event_specific_data.error.message) for e in result.all_events if e.is_step_failure]
    assert any("blocking asset check" in f and "raw/prices_daily: plausible_values" in f for f in failures), failures
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "raw/prices_daily" in materialized  # the raw table was stored, then checked
    assert set(DOWNSTREAM) <= _downstream_of_prices()
    assert not materialized & _downstream_of_prices(), materialized & _downstream_of_prices()
    # yesterday's analytics, site and PDF are untouched; nothing was computed for the bad day
    assert _outputs(box) == before
    assert not any(Path(name).name == f"vault_summary_{BAD_DAY}.pdf" for name in before["files"])
