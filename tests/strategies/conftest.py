"""Shared fixtures: the declared strategy tables in a scratch database, to load engine output into."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import polars as pl
import pytest

from pipeline.warehouse import SCHEMA_DIR

DUCKDB_TO_POLARS = {"DATE": pl.Date, "VARCHAR": pl.String, "DOUBLE": pl.Float64, "INTEGER": pl.Int32,
                    "BIGINT": pl.Int64, "BOOLEAN": pl.Boolean}


@pytest.fixture()
def scratch() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory database holding the declared strategy tables (NOT NULL and keys enforced)."""
    conn = duckdb.connect(":memory:")
    conn.execute((SCHEMA_DIR / "schema" / "50_analytics_strategies.sql").read_text())
    conn.execute("SET VARIABLE vault_run_id = 'test'")  # what open_warehouse sets for a run
    conn.execute("SET VARIABLE vault_methodology_version = 'test'")
    yield conn
    conn.close()


STAMPED_BY_THE_WAREHOUSE = ("run_id",)
"""Columns the warehouse fills from its session (pipeline.warehouse.open_warehouse), not the code."""


def declared_schema(conn: duckdb.DuckDBPyConnection, table: str) -> pl.Schema:
    """The Polars schema of `analytics.<table>` as the SQL declares it, in column order, without
    the columns the warehouse stamps itself."""
    rows = conn.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = "
                        "'analytics' AND table_name = ? ORDER BY ordinal_position", [table]).fetchall()
    return pl.Schema({name: DUCKDB_TO_POLARS[data_type] for name, data_type in rows
                      if name not in STAMPED_BY_THE_WAREHOUSE})
