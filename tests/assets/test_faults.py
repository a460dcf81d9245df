"""`kill -9` in the middle of each warehouse-writing step loses nothing.

A real `python -m assets.run` (the `make run` entry point) runs in a subprocess on a warehouse that
already holds a finished run; 0 to 0.3 s after it logs the start of the chosen step (the delay
differs from step to step, so some die before their write and some during it) it is killed with
SIGKILL. Afterwards the warehouse opens, every table
holds exactly the rows of the finished run (a re-run writes identical rows, so a step killed after
its commit and one killed before it leave the same tables), no key is duplicated, the site and the
reports are whole files, and the next run completes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import warehouse
from tests.conftest import PORTFOLIO_2026, Sandbox

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
# table -> its key columns; logs (raw.ingest_log, history.alerts) and fetch times legitimately change per run
TABLES = {
    "raw.prices_daily": "symbol, date", "raw.gvz_daily": "date", "raw.rates_daily": "date, tenor",
    "raw.option_quotes": "snapshot_date, contract", "analytics.option_valuations": "snapshot_date, contract",
    "analytics.synthetic_chain_daily": "date, tenor_months, moneyness, option_right",
    "analytics.vol_surface_daily": "date", "analytics.positions_daily": "date, position_id",
    "analytics.ltv_daily": "date", "analytics.strategy_comparison": "as_of, template_id",
    "analytics.strategy_scenarios": "as_of, template_id, horizon, spot_shock, vol_shock",
    "analytics.protection_cost_index": "date", "analytics.tail_risk_daily": "date",
}
VOLATILE = {"fetched_at", "run_id"}
KILLED_IN = ["raw__prices_daily", "raw__option_quotes", "analytics__option_valuations",
             "analytics__synthetic_chain_daily", "analytics__positions_daily", "analytics__ltv_daily",
             "strategy_engine", "protection_signals", "publish__site", "publish__report_pdf", "analytics__alerts"]


def _env(box: Sandbox, dagster_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    return {**env, "VAULT_WAREHOUSE": str(box.warehouse), "VAULT_SITE_DIR": str(box.site_dir),
            "VAULT_REPORTS_DIR": str(box.reports_dir), "VAULT_PORTFOLIO": str(box.portfolio),
            "VAULT_AUDIT_DIR": str(box.audit_dir),
            "DAGSTER_HOME": str(dagster_home), "PYTHONUNBUFFERED": "1"}


def _run(box: Sandbox, dagster_home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assets.run"], cwd=ROOT, env=_env(box, dagster_home),
                          capture_output=True, text=True, timeout=600)


def _state(box: Sandbox) -> dict[str, object]:
    with warehouse.open_warehouse(box.warehouse, read_only=True) as conn:
        state: dict[str, object] = {}
        for table, key in TABLES.items():
            columns = [c for (c,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema || '.' || table_name = ?",
                [table]).fetchall() if c not in VOLATILE]
            rows, distinct, digest = conn.execute(
                f"SELECT count(*), count(DISTINCT ({key})), sum(hash({', '.join(columns)})) FROM {table}").fetchone()
            assert rows == distinct, f"{table}: duplicated keys"
            state[table] = (rows, digest)
    pages = {p.name: p.read_bytes() for p in box.site_dir.glob("*.html")}
    assert pages and all(page.rstrip().endswith(b"</html>") for page in pages.values())
    pdfs = list(box.reports_dir.glob("*.pdf"))
    assert pdfs and all(pdf.read_bytes().rstrip().endswith(b"%%EOF") for pdf in pdfs)
    return state


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Sandbox, Path, dict[str, object]]:
    box = Sandbox.at(tmp_path_factory.mktemp("faults"))
    box.write_portfolio(PORTFOLIO_2026)
    home = tmp_path_factory.mktemp("dagster_home")
    done = _run(box, home)
    assert done.returncode == 0, done.stderr[-3000:]
    return box, home, _state(box)


def _kill_when_started(box: Sandbox, home: Path, step: str, delay: float) -> str:
    """Start a run, SIGKILL it `delay` seconds after `step` started; return what it logged."""
    process = subprocess.Popen([sys.executable, "-m", "assets.run"], cwd=ROOT, env=_env(box, home),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    marker = f'Started execution of step "{step}"'
    seen: list[str] = []
    deadline = time.monotonic() + 300
    try:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if marker in line:
                time.sleep(delay)
                process.send_signal(signal.SIGKILL)
                break
            assert time.monotonic() < deadline, f"{step} did not start within 300 s"
        else:
            pytest.fail(f"the run ended before {step} started:\n{''.join(seen[-20:])}")
    finally:
        process.kill()
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    return "".join(seen)


@pytest.mark.parametrize(("step", "delay"), [(step, round(0.1 * (i % 4), 1)) for i, step in enumerate(KILLED_IN)])
def test_a_run_killed_in_a_step_leaves_the_warehouse_and_outputs_whole(finished, step, delay):
    box, home, before = finished
    _kill_when_started(box, home, step, delay)
    assert _state(box) == before


def test_the_next_run_after_the_kills_completes_with_the_same_tables(finished):
    box, home, before = finished
    done = _run(box, home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _state(box) == before
