"""Other processes holding the warehouse: a writer waits with backoff, then says clearly who blocks it.

Real processes, real DuckDB locks: a subprocess opens the file (a SQL session reading it) or holds
the run lock (another `make run`), and this process tries to write.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipeline import warehouse


@contextmanager
def _holder(code: str) -> Iterator[subprocess.Popen]:
    """Run `code` in a subprocess until it prints 'ready'; kill it afterwards."""
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def _seed(path: Path) -> None:
    with warehouse.open_warehouse(path) as conn:
        conn.execute("CREATE TABLE analytics.kept AS SELECT 42 AS answer")


def test_writer_waits_for_a_reader_that_lets_go(tmp_path):
    path = tmp_path / "w.duckdb"
    _seed(path)
    code = f"""
        import duckdb, time
        conn = duckdb.connect({str(path)!r}, read_only=True)
        print("ready", flush=True)
        time.sleep(2.0)
        conn.close()
        time.sleep(30)
    """
    with _holder(code):
        start = time.monotonic()
        conn = warehouse.connect(path, wait_seconds=20)
        waited = time.monotonic() - start
        assert conn.execute("SELECT answer FROM analytics.kept").fetchall() == [(42,)]
        conn.close()
    assert 1.0 < waited < 10.0


def test_writer_gives_up_after_its_wait_and_names_the_file(tmp_path):
    path = tmp_path / "w.duckdb"
    _seed(path)
    code = f"""
        import duckdb, time
        conn = duckdb.connect({str(path)!r}, read_only=True)
        print("ready", flush=True)
        time.sleep(60)
    """
    with _holder(code):
        start = time.monotonic()
        with pytest.raises(warehouse.WarehouseBusyError, match=f"warehouse {path} is locked by another process"):
            warehouse.connect(path, wait_seconds=1.5)
        assert time.monotonic() - start < 5.0
    with warehouse.open_warehouse(path, read_only=True) as conn:  # nothing half-written
        assert conn.execute("SELECT answer FROM analytics.kept").fetchall() == [(42,)]


def test_a_second_run_refuses_while_the_first_holds_the_run_lock(tmp_path):
    path = tmp_path / "w.duckdb"
    code = f"""
        import time
        from pipeline import warehouse
        with warehouse.run_lock({str(path)!r}):
            print("ready", flush=True)
            time.sleep(60)
    """
    with _holder(code) as first:
        with pytest.raises(warehouse.RunInProgressError, match=rf"another run is using .*\(pid {first.pid}, started "):
            with warehouse.run_lock(path):
                pass
    # the holder was killed (-9): the kernel dropped its flock, so the lock is free again
    with warehouse.run_lock(path):
        pass
