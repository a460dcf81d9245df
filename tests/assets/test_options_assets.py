"""Option assets materialized with the raw ingest assets into a throwaway DuckDB (offline)."""

from datetime import date

import dagster as dg
import duckdb
import pytest

from assets import ingest, options

SNAPSHOT = "2026-10-06"  # the last GLD day in the embedded data


@pytest.fixture(scope="module")
def assets_under_test() -> list:
    return dg.load_assets_from_modules([ingest, options])


def _counts(path) -> dict[str, tuple]:  # noqa: ANN001
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return {table: conn.execute(f"SELECT count(*), count(DISTINCT {key}) FROM {table}").fetchall()[0]
                for table, key in [
                    ("raw.option_quotes", "(snapshot_date, contract)"),
                    ("analytics.option_valuations", "(snapshot_date, contract)"),
                    ("analytics.vol_surface_daily", "date"),
                    ("analytics.synthetic_chain_daily", "(date, tenor_months, moneyness, option_right)"),
                ]}
    finally:
        conn.close()


def test_offline_run_fills_the_tables_and_rerun_replaces(sandbox, assets_under_test) -> None:
    result = dg.materialize(assets_under_test, resources=sandbox.resources(), partition_key=SNAPSHOT)
    assert result.success
    first = _counts(sandbox.warehouse)
    for table, (rows, distinct) in first.items():
        assert rows > 0 and rows == distinct, table  # filled, no duplicate keys
    assert first["analytics.vol_surface_daily"][0] == 5_504  # every GLD day 2004-11-18..2026-10-06
    assert first["analytics.synthetic_chain_daily"][0] == 5_504 * 108
    assert first["raw.option_quotes"][0] == first["analytics.option_valuations"][0]

    conn = duckdb.connect(str(sandbox.warehouse), read_only=True)
    try:
        assert conn.execute("SELECT DISTINCT source FROM raw.option_quotes").fetchall() == [("model",)]
        assert conn.execute("SELECT DISTINCT source FROM analytics.chain_latest").fetchall() == [("model",)]
        assert conn.execute("SELECT DISTINCT snapshot_date FROM raw.option_quotes").fetchall() == [
            (date(2026, 10, 6),)]
        spot, = conn.execute("SELECT DISTINCT underlying_price FROM raw.option_quotes").fetchall()[0]
        close, = conn.execute("SELECT close FROM raw.prices_daily WHERE date = '2026-10-06'").fetchall()[0]
        assert spot == close
        status = conn.execute("SELECT status, reason FROM raw.ingest_status "
                              "WHERE table_name = 'raw.option_quotes'").fetchall()[0]
        assert status[0] == "model" and "not market quotes" in status[1]
        latest = conn.execute("SELECT iv_source, atm_vol_source, atm_iv_30d FROM analytics.vol_surface_latest"
                              ).fetchall()[0]
        assert latest[:2] == ("chain:model", "gvz_carried")
        assert 0.2 < latest[2] < 0.3  # GVZ's last print 25.17, carried
    finally:
        conn.close()

    # re-running the same day (and a run without a partition key) replaces, never duplicates
    assert dg.materialize(assets_under_test, resources=sandbox.resources(), partition_key=SNAPSHOT).success
    assert dg.materialize(assets_under_test, resources=sandbox.resources()).success
    assert _counts(sandbox.warehouse) == first


def test_non_session_partition_writes_nothing(sandbox, assets_under_test) -> None:
    quotes = [a for a in assets_under_test if dg.AssetKey(["raw", "option_quotes"]) in a.keys]
    raw = [a for a in assets_under_test if a.key.path[0] == "raw" and a not in quotes]
    assert dg.materialize(raw, resources=sandbox.resources()).success
    result = dg.materialize(quotes, resources=sandbox.resources(), partition_key="2026-10-04")  # Sunday
    assert result.success
    conn = duckdb.connect(str(sandbox.warehouse), read_only=True)
    try:
        assert conn.execute("SELECT count(*) FROM raw.option_quotes").fetchall()[0][0] == 0
    finally:
        conn.close()


def test_schedule_tick_runs_its_own_new_york_day() -> None:
    """18:30 New York on a weekday -> that day's partition (the session just closed)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from assets.definitions import defs

    schedule = defs.get_schedule_def("daily_refresh_after_us_close")
    tick = datetime(2026, 11, 20, 18, 30, tzinfo=ZoneInfo("America/New_York"))
    data = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick,
                                                            repository_def=defs.get_repository_def()))
    assert [request.partition_key for request in data.run_requests] == ["2026-11-20"]
