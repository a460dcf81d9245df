"""The code location loads, and its asset keys, checks, jobs and schedules are pinned.

An accidental rename or a lost asset fails here loudly; an intended change edits these sets.
"""

import subprocess
import sys
from pathlib import Path

from assets.definitions import defs

PINNED_ASSETS = {
    "raw/prices_daily",
    "raw/gvz_daily",
    "raw/rates_daily",
    "analytics/ltv_daily",
    "analytics/positions_daily",
    "raw/option_quotes",
    "analytics/option_valuations",
    "analytics/synthetic_chain_daily",
    "analytics/vol_surface_daily",
    "analytics/alerts",
    "analytics/strategy_templates",
    "analytics/strategy_template_legs",
    "analytics/strategy_comparison",
    "analytics/order_preview",
    "analytics/strategy_scenarios",
    "analytics/strategy_payoff",
    "analytics/strategy_recommendation",
    "analytics/strategy_sensitivity",
    "analytics/protection_signal",
    "analytics/tail_risk_daily",
    "analytics/protection_cost_index",
    "publish/site",
    "publish/report_pdf",
    "publish/audit",
    "analytics/backtest_inputs",
    "analytics/backtest_event_results",
    *(f"analytics/backtest_sweep_tenor_{days}d" for days in (30, 61, 91, 121, 182, 365)),
    "analytics/margin_call_simulation",
    "analytics/backtest_events",
    "analytics/backtest_runs",
    "analytics/backtest_paths",
    "analytics/backtest_sweep",
    "analytics/hedge_policy_optimum",
    "analytics/margin_call_probability",
    "publish/selloff_reports",
}
PINNED_CHECKS = {
    f"raw/{table}:{check}"
    for table in ("prices_daily", "gvz_daily", "rates_daily")
    for check in ("non_empty", "plausible_values", "no_calendar_gaps", "fresh")
}
PINNED_JOBS = {"daily_refresh", "evaluate_alerts", "backtests", "selloff_report"}
PINNED_SCHEDULES = {"daily_refresh_after_us_close"}
PINNED_SENSORS: set[str] = {"alerts_after_successful_run", "backtests_after_daily_refresh"}


def test_pinned_asset_keys_checks_jobs_schedules_and_sensors():
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == PINNED_ASSETS
    assert {key.to_user_string() for key in graph.asset_check_keys} == PINNED_CHECKS
    jobs = {job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")}
    assert jobs == PINNED_JOBS
    assert {s.name for s in defs.schedules or []} == PINNED_SCHEDULES
    assert {s.name for s in defs.sensors or []} == PINNED_SENSORS


def test_schedule_runs_the_daily_job_after_the_us_close():
    schedule = next(iter(defs.schedules))
    assert schedule.cron_schedule == "30 18 * * 1-5"
    assert schedule.execution_timezone == "America/New_York"
    assert schedule.job_name == "daily_refresh"


def test_dagster_cli_finds_the_definitions_through_pyproject():
    """`dagster definitions validate` from the project root, as the README says."""
    root = Path(__file__).resolve().parents[2]
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run([str(dagster), "definitions", "validate"], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr
