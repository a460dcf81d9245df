"""The Dagster code location: assembles assets, checks, jobs, schedules and resources."""

import dagster as dg

from assets import alerts, analytics, audit, ingest, options, publish, strategies
from assets.backtest import BACKTEST_ASSETS
from assets.checks import raw_checks
from assets.resources import default_resources
from assets.schedules import (backtests_job, daily_refresh_job, daily_refresh_schedule, selloff_report_job,
                              warehouse_safe_executor)
from assets.sensors import alerts_after_successful_run, backtests_after_daily_refresh, evaluate_alerts_job

# Listed once here so tests can materialize exactly what the code location serves. The daily assets
# and the backtest assets (partitioned by event) run as separate jobs: one job, one partitioning.
ALL_ASSETS = dg.load_assets_from_modules([ingest, options, analytics, strategies, publish, audit, alerts])
ALL_CHECKS = [*raw_checks]

defs = dg.Definitions(
    assets=[*ALL_ASSETS, *BACKTEST_ASSETS],
    asset_checks=ALL_CHECKS,
    jobs=[daily_refresh_job, evaluate_alerts_job, backtests_job, selloff_report_job],
    schedules=[daily_refresh_schedule],
    sensors=[alerts_after_successful_run, backtests_after_daily_refresh],
    resources=default_resources(),
    executor=warehouse_safe_executor,
)
