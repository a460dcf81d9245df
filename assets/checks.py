"""Asset checks on the raw tables; the rules themselves live in pipeline/market/quality.py."""


from collections.abc import Sequence

import dagster as dg

from assets.resources import WAREHOUSE_TAG, MarketDataResource, WarehouseResource
from pipeline import warehouse as wh
from pipeline.market import quality

# Sources whose implausible values stop everything downstream: LTV, margin-call prices, hedge
# marks and the published site/PDF are all computed from the GLD closes, so a split, a zero or a
# duplicated day must not reach them (the previous outputs stay until the data is fixed).
BLOCKING_PLAUSIBILITY = {"prices"}

# raw table -> (asset key, source kind for the calendar rules)
RAW_TABLES = {
    "raw.prices_daily": (dg.AssetKey(["raw", "prices_daily"]), "prices"),
    "raw.gvz_daily": (dg.AssetKey(["raw", "gvz_daily"]), "gvz"),
    "raw.rates_daily": (dg.AssetKey(["raw", "rates_daily"]), "rates"),
}


def _result(outcome: quality.QualityResult, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=outcome.passed, description=outcome.description,
                               metadata=outcome.metadata, severity=severity)


def _checks_for(table: str) -> Sequence[dg.AssetChecksDefinition]:
    asset_key, source = RAW_TABLES[table]

    @dg.asset_check(asset=asset_key, name="non_empty", op_tags=WAREHOUSE_TAG, blocking=True)
    def non_empty(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.open(read_only=True) as conn:
            frame = wh.read_table(conn, table)
        return _result(quality.non_empty(frame, table), dg.AssetCheckSeverity.ERROR)

    @dg.asset_check(asset=asset_key, name="plausible_values", op_tags=WAREHOUSE_TAG,
                    blocking=source in BLOCKING_PLAUSIBILITY)
    def plausible_values(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.open(read_only=True) as conn:
            frame = wh.read_table(conn, table)
        return _result(quality.plausible_values(frame, source, table), dg.AssetCheckSeverity.ERROR)

    @dg.asset_check(asset=asset_key, name="no_calendar_gaps", op_tags=WAREHOUSE_TAG)
    def no_calendar_gaps(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.open(read_only=True) as conn:
            dates = conn.sql(f"SELECT DISTINCT date FROM {table} ORDER BY date").pl()["date"].to_list()
        since = None if source != "rates" else quality.RATES_CHECKED_SINCE
        return _result(quality.no_calendar_gaps(dates, source, since=since), dg.AssetCheckSeverity.WARN)

    @dg.asset_check(asset=asset_key, name="fresh", op_tags=WAREHOUSE_TAG)
    def fresh(warehouse: WarehouseResource, market: MarketDataResource) -> dg.AssetCheckResult:
        with warehouse.open(read_only=True) as conn:
            last_date = conn.execute(f"SELECT max(date) FROM {table}").fetchone()[0]
            status = conn.execute(
                "SELECT status FROM raw.ingest_status WHERE table_name = ?", [table]
            ).fetchone()
        outcome = quality.freshness(last_date, market.now(), status[0] if status else "unknown", source)
        return _result(outcome, dg.AssetCheckSeverity.WARN)

    return [non_empty, plausible_values, no_calendar_gaps, fresh]


raw_checks = [check for table in RAW_TABLES for check in _checks_for(table)]
