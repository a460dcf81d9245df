"""Evaluate alerts after every successful run that did not already do it.

The daily job includes `analytics/alerts`, so the schedule alone covers the daily run. A run
launched by hand (e.g. rematerializing `analytics/ltv_daily` from the UI after editing the
portfolio) changes the numbers without evaluating alerts; this sensor then requests the small
`evaluate_alerts` job, keyed by the finished run's id so each run triggers it at most once.
"""

import dagster as dg

from assets.alerts import ALERTS_KEY
from assets.backtest import EVENT_PARTITIONS
from assets.resources import WAREHOUSE_TAG
from assets.schedules import all_events_tags, backtests_job, daily_refresh_job

evaluate_alerts_job = dg.define_asset_job(
    name="evaluate_alerts",
    selection=dg.AssetSelection.assets(ALERTS_KEY),
    description="Evaluate alert rules on the current warehouse, update the alert log, email what is pending.",
    tags=WAREHOUSE_TAG,
)


def run_evaluated_alerts(instance: dg.DagsterInstance, run_id: str) -> bool:
    """True when the run materialized `analytics/alerts` (then there is nothing left to do)."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    return any(record.event_log_entry.asset_materialization.asset_key == ALERTS_KEY
               for record in records if record.event_log_entry.asset_materialization is not None)


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, request_job=evaluate_alerts_job,
                      minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def alerts_after_successful_run(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    """Request an alert evaluation after a successful run that left `analytics/alerts` out."""
    run = context.dagster_run
    if run.job_name in (evaluate_alerts_job.name, backtests_job.name) or run_evaluated_alerts(context.instance, run.run_id):
        return dg.SkipReason(f"run {run.run_id} ({run.job_name}) already evaluated alerts")
    return dg.RunRequest(run_key=f"alerts-after-{run.run_id}", tags={"vault/after_run": run.run_id})


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[daily_refresh_job],
                      request_job=backtests_job, minimum_interval_seconds=30,
                      default_status=dg.DefaultSensorStatus.RUNNING)
def backtests_after_daily_refresh(context: dg.RunStatusSensorContext) -> dg.RunRequest:
    """After each successful daily refresh, replay every event partition in one run."""
    run = context.dagster_run
    return dg.RunRequest(run_key=f"backtests-after-{run.run_id}",
                         tags={**all_events_tags(EVENT_PARTITIONS.get_partition_keys()), "vault/after_run": run.run_id})
