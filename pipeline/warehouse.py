"""DuckDB warehouse: connection, idempotent schema, and atomic table writes.

Every write goes through one transaction (delete the slice being replaced, insert the new rows,
commit), so a failed step leaves the previous good data in place and a re-run never duplicates
rows. Files are written in a 1.x storage format so the DuckDB CLI from PyPI can open them.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

import duckdb
import polars as pl

from pipeline.methodology import METHODOLOGY_VERSION
from pipeline.paths import PROJECT_ROOT

SCHEMA_DIR = PROJECT_ROOT / "warehouse"
DEFAULT_WAREHOUSE = SCHEMA_DIR / "vault.duckdb"
# duckdb-cli 1.5.x cannot read the 2.x default storage format; 1.4 files open in every 1.4+ client.
STORAGE_COMPATIBILITY_VERSION = "v1.4.0"
# Derived tables may be dropped and rebuilt when their declared columns change; raw and history
# (logs that cannot be recomputed) never are: a mismatch there stops the run instead.
REBUILDABLE_SCHEMAS = frozenset({"analytics"})

_QUALIFIED_NAME = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


LOCK_WAIT_SECONDS: Final = 60.0
"""How long a writer waits for another process's connection to let go of the file (VAULT_LOCK_WAIT_SECONDS)."""
FIRST_BACKOFF_SECONDS: Final = 0.1
MAX_BACKOFF_SECONDS: Final = 2.0


class SchemaMismatchError(RuntimeError):
    """A stored raw table no longer matches warehouse/schema/ and cannot be rebuilt safely."""


class WarehouseBusyError(RuntimeError):
    """Another process kept the DuckDB file locked for longer than the writer may wait."""


class RunInProgressError(RuntimeError):
    """Another `make run` holds the warehouse's run lock."""


def warehouse_path() -> Path:
    """The DuckDB file: `VAULT_WAREHOUSE` if set, else `warehouse/vault.duckdb`."""
    return Path(os.environ.get("VAULT_WAREHOUSE") or DEFAULT_WAREHOUSE).expanduser()


def lock_wait_seconds() -> float:
    """`VAULT_LOCK_WAIT_SECONDS`, else LOCK_WAIT_SECONDS."""
    return float(os.environ.get("VAULT_LOCK_WAIT_SECONDS") or LOCK_WAIT_SECONDS)


def connect(path: Path | str, read_only: bool = False, wait_seconds: float | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file (created if missing unless read-only).

    DuckDB lets one process write a file, and a reader in another process (a SQL session, the
    DuckDB CLI) blocks the writer too. A connection refused for a lock is retried with backoff
    (0.1 s doubling to 2 s) for up to `wait_seconds` (default lock_wait_seconds()), then
    WarehouseBusyError says which file and what held it. Nothing was written meanwhile.
    """
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    wait = lock_wait_seconds() if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    backoff = FIRST_BACKOFF_SECONDS
    while True:
        try:
            if read_only:
                return duckdb.connect(str(path), read_only=True)
            return duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_COMPATIBILITY_VERSION})
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            if time.monotonic() + backoff > deadline:
                raise WarehouseBusyError(
                    f"warehouse {path} is locked by another process and stayed locked for "
                    f"{wait:g} s "
                    f"(close other DuckDB sessions on it, or raise VAULT_LOCK_WAIT_SECONDS): {error}") from None
            time.sleep(backoff)
            backoff = min(2 * backoff, MAX_BACKOFF_SECONDS)


@contextmanager
def run_lock(path: Path | str) -> Iterator[None]:
    """Hold `<warehouse>.runlock` for a whole run; a second run refuses at once, saying who has it.

    An advisory flock: the kernel releases it when the holder exits, even after kill -9, so a
    crashed run never leaves a stale lock behind.
    """
    lock_path = Path(f"{path}.runlock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            raise RunInProgressError(f"another run is using {path} ({holder}); wait for it to finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


MANUAL_RUN_ID: Final = "manual"
"""The run id stamped on rows written outside a Dagster run (a script, a notebook)."""


@contextmanager
def open_warehouse(path: Path | str, read_only: bool = False,
                   run_id: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Connection context manager; applies the schema first when writable.

    A writable connection also carries the audit stamp: every analytics row it inserts gets
    `run_id` (this run's, else MANUAL_RUN_ID) and `methodology_version` from the schema's column
    defaults (the session variables vault_run_id / vault_methodology_version), so no writer can
    forget them.
    """
    conn = connect(path, read_only=read_only)
    try:
        if not read_only:
            apply_schema(conn)
            conn.execute("SET VARIABLE vault_run_id = ?", [run_id or MANUAL_RUN_ID])
            conn.execute("SET VARIABLE vault_methodology_version = ?", [METHODOLOGY_VERSION])
        yield conn
    finally:
        conn.close()


def _sql_files(folder: str) -> str:
    """All warehouse/<folder>/*.sql in file-name order, one script (one file per concept)."""
    return "\n".join(path.read_text() for path in sorted((SCHEMA_DIR / folder).glob("*.sql")))


def _declared_columns(sql: str) -> dict[str, list[tuple[str, str]]]:
    """Table -> [(column, type)] as declared by the schema SQL, learnt from a scratch database."""
    scratch = duckdb.connect(":memory:")
    try:
        scratch.execute(sql)
        return _table_columns(scratch)
    finally:
        scratch.close()


def _table_columns(conn: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    rows = conn.execute(
        """
        SELECT table_schema || '.' || table_name, column_name, data_type
        FROM information_schema.columns
        WHERE table_schema IN ('raw', 'history', 'analytics')
          AND table_name IN (SELECT table_name FROM information_schema.tables
                             WHERE table_type = 'BASE TABLE')
        ORDER BY table_schema, table_name, ordinal_position
        """
    ).fetchall()
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        columns.setdefault(table, []).append((column, data_type))
    return columns


def apply_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create schemas, tables and views from warehouse/{schema,views}/*.sql; idempotent.

    A derived (analytics) table whose stored columns differ from the declaration is rebuilt empty;
    a raw or history table that differs raises, because neither can be re-derived.
    """
    schema_sql = _sql_files("schema")
    declared = _declared_columns(schema_sql)
    stored = _table_columns(conn)
    conn.execute("BEGIN TRANSACTION")
    try:
        for table, columns in declared.items():
            # Writes insert BY NAME, so only the set of (column, type) pairs matters, not order.
            if table not in stored or sorted(stored[table]) == sorted(columns):
                continue
            if table.split(".")[0] not in REBUILDABLE_SCHEMAS:
                raise SchemaMismatchError(
                    f"table {table} has columns {stored[table]} but warehouse/schema/ declares "
                    f"{columns}; migrate it by hand (raw data and history logs are never dropped automatically)"
                )
            conn.execute(f"DROP TABLE {table} CASCADE")
        conn.execute(schema_sql)
        conn.execute(_sql_files("views"))
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction; a COMMIT that failed (e.g. disk full) has already done it,
    and its error, not "no transaction is active", is the one to report."""
    try:
        conn.execute("ROLLBACK")
    except duckdb.TransactionException:
        pass


def _check_table_name(table: str) -> str:
    if not _QUALIFIED_NAME.match(table):
        raise ValueError(f"table must be a lower-case 'schema.name', got {table!r}")
    return table


def replace_rows(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    where: Mapping[str, object] | None = None,
) -> int:
    """Atomically replace a table's rows (or the slice matching `where`) with `frame`.

    `where` maps column -> value (e.g. {"symbol": "GLD"}), so one symbol or one day can be
    rewritten without touching the rest. Either the whole replacement lands or nothing does.
    Returns the number of rows written.
    """
    return replace_tables(conn, {table: frame}, where)[table]


def replace_tables(
    conn: duckdb.DuckDBPyConnection,
    frames: Mapping[str, pl.DataFrame],
    where: Mapping[str, object] | None = None,
) -> dict[str, int]:
    """`replace_rows` for several tables in ONE transaction: all of them land, or none does.

    For tables that only make sense together (a day's strategy comparison and its scenarios).
    Returns table -> rows written.
    """
    clause, params = _where_clause(where)
    staged = {_check_table_name(table): f"_vault_staging_{i}" for i, table in enumerate(frames)}
    conn.execute("BEGIN TRANSACTION")
    try:
        for table, frame in frames.items():
            conn.register(staged[table], frame.to_arrow())
            conn.execute(f"DELETE FROM {table} WHERE {clause}", params)
            conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {staged[table]}")
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    finally:  # after COMMIT / ROLLBACK: an aborted transaction refuses even an unregister
        for name in staged.values():
            conn.unregister(name)
    return {table: frame.height for table, frame in frames.items()}


def delete_rows(conn: duckdb.DuckDBPyConnection, tables: list[str], where: Mapping[str, object]) -> None:
    """Delete the slice matching `where` from every table, in one transaction."""
    clause, params = _where_clause(where)
    conn.execute("BEGIN TRANSACTION")
    try:
        for table in tables:
            conn.execute(f"DELETE FROM {_check_table_name(table)} WHERE {clause}", params)
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _where_clause(where: Mapping[str, object] | None) -> tuple[str, list[object]]:
    """`column = ?` conditions joined by AND (TRUE when empty), and their parameters."""
    where = dict(where or {})
    return " AND ".join(f'"{column}" = ?' for column in where) or "TRUE", list(where.values())


def read_table(conn: duckdb.DuckDBPyConnection, table: str, order_by: str | None = None,
               where: Mapping[str, object] | None = None) -> pl.DataFrame:
    """A table, or the slice matching `where`, as a Polars frame (duckdb 2.x: via a relation)."""
    table = _check_table_name(table)
    clause, params = _where_clause(where)
    order = f" ORDER BY {order_by}" if order_by else ""
    return conn.sql(f"SELECT * FROM {table} WHERE {clause}{order}", params=params).pl()


def log_ingest(conn: duckdb.DuckDBPyConnection, table: str, status: str, reason: str,
               frame: pl.DataFrame) -> None:
    """Append one `raw.ingest_log` row saying where `table`'s data came from in this run."""
    conn.execute(
        "INSERT INTO raw.ingest_log VALUES (?, now(), ?, ?, ?, ?, ?)",
        [table, status, reason, frame.height, frame["date"].min(), frame["date"].max()],
    )


def latest_ingest_status(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Raw table -> "status: reason" of its latest ingest (empty before the first run)."""
    rows = conn.execute(
        "SELECT table_name, status, reason FROM raw.ingest_status ORDER BY table_name"
    ).fetchall()
    return {table: f"{status}: {reason}" for table, status, reason in rows}


def read_prices(conn: duckdb.DuckDBPyConnection, symbol: str) -> pl.DataFrame:
    """`raw.prices_daily` rows of one symbol, oldest first."""
    return read_table(conn, "raw.prices_daily", order_by="date", where={"symbol": symbol})
