"""The daily job and its schedule: refresh everything after the US close."""

import dagster as dg

from assets.resources import WAREHOUSE_TAG
from pipeline.market import calendar

# Steps that touch the DuckDB file run one at a time (one writer per file); the rest of a
# step's work, and later partitioned assets, still fan out across processes. Steps fork from a
# server that has already imported the code location, so each starts in well under a second.
warehouse_safe_executor = dg.multiprocess_executor.configured(
    {
        "tag_concurrency_limits": [{"key": key, "value": value, "limit": 1}
                                   for key, value in WAREHOUSE_TAG.items()],
        "start_method": {"forkserver": {"preload_modules": ["assets.definitions"]}},
    }
)

BACKTEST_GROUP = "backtest"

daily_refresh_job = dg.define_asset_job(
    name="daily_refresh",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(BACKTEST_GROUP),
    description="Ingest market data, recompute analytics, publish the site and the PDF report.",
    executor_def=warehouse_safe_executor,
    tags=WAREHOUSE_TAG,
)

# 18:30 New York time, Monday to Friday: after the 16:00 close (13:00 on early-close days) and
# Yahoo's end-of-day update. The job holds the daily-partitioned chain snapshot (raw/option_quotes),
# so each tick asks for the partition of its own New York day: that session's chain. A weekday
# without a session (an NYSE holiday) is skipped. (build_schedule_from_partitioned_job cannot
# keep a weekday-only cron for a time-partitioned job, hence a plain schedule.)
@dg.schedule(
    name="daily_refresh_after_us_close",
    job=daily_refresh_job,
    cron_schedule="30 18 * * 1-5",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def daily_refresh_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """The tick's New York day as the run's partition, or a skip naming the closure."""
    day = calendar.exchange_time(context.scheduled_execution_time).date()
    closed = calendar.closure_name(day)
    if closed:
        return dg.SkipReason(f"NYSE closed on {day:%A} {day} ({closed}): no session to refresh")
    return dg.RunRequest(partition_key=day.isoformat())


def all_events_tags(partition_keys: list[str]) -> dict[str, str]:
    """Run tags for one run over every event partition (the event asset's single-run backfill)."""
    return {"dagster/asset_partition_range_start": partition_keys[0],
            "dagster/asset_partition_range_end": partition_keys[-1], **WAREHOUSE_TAG}


backtests_job = dg.define_asset_job(
    name="backtests",
    selection=dg.AssetSelection.groups(BACKTEST_GROUP) | dg.AssetSelection.assets(["publish", "site"]),
    description="Replay the hedge templates on every event, sweep the policy grid, simulate margin calls, "
                "write the backtest tables, build the selloff PDFs and republish the site.",
    executor_def=warehouse_safe_executor,
    tags=WAREHOUSE_TAG,
)

selloff_report_job = dg.define_asset_job(
    name="selloff_report",
    selection=dg.AssetSelection.assets(["publish", "selloff_reports"]),
    description="Build selloff PDFs from the stored backtests: set ops.publish__selloff_reports.config.event_id "
                "to one event (e.g. jan_2026), or leave it empty for all.",
    tags=WAREHOUSE_TAG,
)
