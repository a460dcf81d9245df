"""The warehouse's promises: idempotent schema, atomic replacement, CLI-readable storage."""

from __future__ import annotations

from datetime import date, datetime, timezone

import duckdb
import polars as pl
import pytest

from pipeline import warehouse
from pipeline.market import embedded

NOW = datetime(2026, 11, 20, tzinfo=timezone.utc)


def test_schema_applies_twice_without_change(tmp_path):
    path = tmp_path / "w.duckdb"
    with warehouse.open_warehouse(path) as conn:
        first = conn.execute("SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2").fetchall()
    with warehouse.open_warehouse(path) as conn:
        second = conn.execute("SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2").fetchall()
    assert first == second
    assert ("raw", "prices_daily") in first and ("analytics", "ltv_daily") in first


def test_replace_rows_touches_only_its_slice(tmp_path):
    gld = embedded.load_prices("GLD", NOW)
    other = gld.head(10).with_columns(symbol=pl.lit("SGOL"))
    with warehouse.open_warehouse(tmp_path / "w.duckdb") as conn:
        warehouse.replace_rows(conn, "raw.prices_daily", other, where={"symbol": "SGOL"})
        warehouse.replace_rows(conn, "raw.prices_daily", gld, where={"symbol": "GLD"})
        warehouse.replace_rows(conn, "raw.prices_daily", gld.tail(5), where={"symbol": "GLD"})
        counts = dict(conn.execute("SELECT symbol, count(*) FROM raw.prices_daily GROUP BY 1").fetchall())
    assert counts == {"SGOL": 10, "GLD": 5}


def test_failed_insert_rolls_back_the_delete(tmp_path):
    """The delete and the insert are one transaction: a bad frame leaves the old rows."""
    gld = embedded.load_prices("GLD", NOW)
    with warehouse.open_warehouse(tmp_path / "w.duckdb") as conn:
        warehouse.replace_rows(conn, "raw.prices_daily", gld, where={"symbol": "GLD"})
        broken = gld.with_columns(close=pl.when(pl.col("date") == date(2026, 10, 6))
                                  .then(None).otherwise(pl.col("close")))  # NOT NULL violated
        with pytest.raises(duckdb.ConstraintException):
            warehouse.replace_rows(conn, "raw.prices_daily", broken, where={"symbol": "GLD"})
        rows, last_close = conn.execute(
            "SELECT count(*), max_by(close, date) FROM raw.prices_daily").fetchone()
    assert (rows, last_close) == (5504, 382.27)


def test_changed_derived_table_is_rebuilt_but_raw_one_refuses(tmp_path):
    path = tmp_path / "w.duckdb"
    with warehouse.open_warehouse(path) as conn:
        conn.execute("DROP TABLE analytics.ltv_daily")
        conn.execute("CREATE TABLE analytics.ltv_daily (date DATE, old_column DOUBLE)")
        conn.execute("DROP VIEW raw.gld_daily")
        conn.execute("ALTER TABLE raw.prices_daily DROP COLUMN volume")
    conn = warehouse.connect(path)
    try:
        with pytest.raises(warehouse.SchemaMismatchError, match="raw.prices_daily"):
            warehouse.apply_schema(conn)
        # the failed apply changed nothing, not even the rebuildable table
        columns = [c for c, in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'ltv_daily'").fetchall()]
        assert columns == ["date", "old_column"]
        conn.execute("ALTER TABLE raw.prices_daily ADD COLUMN volume BIGINT")
        warehouse.apply_schema(conn)
        columns = [c for c, in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'ltv_daily'").fetchall()]
        assert "old_column" not in columns and "ltv" in columns
    finally:
        conn.close()


def test_table_names_are_validated(tmp_path):
    with warehouse.open_warehouse(tmp_path / "w.duckdb") as conn:
        with pytest.raises(ValueError, match="schema.name"):
            warehouse.read_table(conn, "raw.prices_daily; DROP TABLE raw.prices_daily")


def test_changed_history_log_refuses_instead_of_being_ignored(tmp_path):
    """The alert log cannot be recomputed: a column change must stop the run, not pass silently."""
    path = tmp_path / "w.duckdb"
    with warehouse.open_warehouse(path) as conn:
        conn.execute("ALTER TABLE history.alerts ADD COLUMN note VARCHAR")
    conn = warehouse.connect(path)
    try:
        with pytest.raises(warehouse.SchemaMismatchError, match="history.alerts"):
            warehouse.apply_schema(conn)
    finally:
        conn.close()
