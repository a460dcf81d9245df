"""Option assets: daily chain snapshots, their valuations, the vol surface and synthetic history.

`raw/option_quotes` is daily-partitioned (one snapshot per NYSE day; re-running a day replaces
that day's rows). The daily job runs it for one partition (assets/run.py picks it; the schedule
uses the tick's day). Materialized without a partition key (e.g. `dg.materialize` over
everything) it uses the default snapshot day. The analytics assets are unpartitioned:
`option_valuations` values every snapshot day that is new or was replaced since it was valued.
Live, a day's stored chain is reused when it is final or a fresh intraday one
(`options.session_snapshot`): the stored rows (`source`, `fetched_at`) and the day's last
`raw.ingest_log` status decide; reused rows are not rewritten, only the ingest log says 'cached'/'final'.
(A partitioned valuations asset would need a partition key in every run that includes it.)
Every asset here takes the portfolio resource although it does not read it: its setup validates
portfolio.toml, so a bad file stops the step before it opens the warehouse (tests/assets/test_run_guards.py).
"""

from datetime import date

import dagster as dg
import polars as pl

from assets.resources import WAREHOUSE_TAG, MarketDataResource, PortfolioResource, WarehouseResource
from pipeline import warehouse as wh
from pipeline.market import calendar, options
from pipeline.pricing import chain, surface, synthetic
from pipeline.pricing.skew import atm_vol_daily

RAW, ANALYTICS = "raw", "analytics"
SYMBOL = "GLD"
PRICES, GVZ, RATES = (dg.AssetKey(["raw", name]) for name in ("prices_daily", "gvz_daily", "rates_daily"))
QUOTES = dg.AssetKey(["raw", "option_quotes"])
VALUATIONS = dg.AssetKey(["analytics", "option_valuations"])
SYNTHETIC = dg.AssetKey(["analytics", "synthetic_chain_daily"])

# Our own chain history starts with this project; earlier days are covered by the synthetic chain.
snapshot_partitions = dg.DailyPartitionsDefinition(
    start_date="2026-01-02", timezone="America/New_York", end_offset=1)


def _snapshot_day(context: dg.AssetExecutionContext, conn, market: MarketDataResource) -> date:  # noqa: ANN001
    if context.has_partition_key:
        return date.fromisoformat(context.partition_key)
    stored = conn.execute("SELECT max(date) FROM raw.prices_daily WHERE symbol = ?", [SYMBOL]).fetchall()[0][0]
    return options.default_snapshot_day(market.live, market.now(), stored)


def _stored_chain(conn, day: date) -> options.StoredChain:  # noqa: ANN001
    """The day's stored quotes and the status its last ingest logged (None before the first)."""
    logged = conn.execute(
        "SELECT status FROM raw.ingest_log WHERE table_name = 'raw.option_quotes' AND last_date = ? "
        "ORDER BY ingested_at DESC LIMIT 1", [day]).fetchall()
    return options.StoredChain(wh.read_table(conn, "raw.option_quotes", where={"snapshot_date": day}),
                               logged[0][0] if logged else None)


@dg.asset(key_prefix=RAW, group_name=RAW, kinds={"duckdb", "python"}, op_tags=WAREHOUSE_TAG,
          partitions_def=snapshot_partitions, deps=[PRICES, GVZ, RATES])
def option_quotes(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  market: MarketDataResource, portfolio: PortfolioResource) -> dg.MaterializeResult:
    """GLD option chain snapshot of one NYSE day: live yfinance, else the model chain (source='model')."""
    now = market.now()
    with warehouse.open() as conn:
        day = _snapshot_day(context, conn, market)
        closed = calendar.closure_name(day)
        if closed:
            return dg.MaterializeResult(metadata={"status": "skipped", "snapshot_date": str(day),
                                                  "reason": f"{day} is not an NYSE session ({closed})",
                                                  "rows": 0})
        prices, gvz = wh.read_prices(conn, SYMBOL), wh.read_table(conn, "raw.gvz_daily")
        rates = wh.read_table(conn, "raw.rates_daily")
        stored = _stored_chain(conn, day)

    def build_model() -> pl.DataFrame:
        inputs = chain.model_chain_inputs(day, prices, atm_vol_daily(gvz, prices), rates)
        context.log.info(f"model chain inputs for {day}: {inputs}")
        return chain.model_chain(day, inputs["spot"], inputs["atm_vol"], inputs["rate"], now)

    def fetch_live() -> options.ChainFetch:
        return options.fetch_chain(SYMBOL, day, market.deadline_seconds * options.CHAIN_DEADLINE_MULTIPLE,
                                   now)

    result = options.session_snapshot(live=market.live, snapshot_date=day, now=now, stored=stored,
                                      fetch_live=fetch_live, build_model=build_model)
    with warehouse.open() as conn:
        if not result.reused:
            wh.replace_rows(conn, "raw.option_quotes", result.frame, where={"snapshot_date": day})
        wh.log_ingest(conn, "raw.option_quotes", result.status, result.reason,
                      result.frame.select(pl.col("snapshot_date").alias("date")))
    if result.status in ("stale", "partial"):
        context.log.warning(result.reason)
    return dg.MaterializeResult(metadata={**result.metadata(), "snapshot_date": str(day)})


@dg.asset(key_prefix=ANALYTICS, group_name=ANALYTICS, kinds={"duckdb", "polars"}, op_tags=WAREHOUSE_TAG,
          deps=[QUOTES, PRICES, RATES])
def option_valuations(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                      portfolio: PortfolioResource) -> dg.MaterializeResult:
    """Each quote of every snapshot: mid, spread, American IV from mid, Greeks, quality flags.

    Only snapshot days that are new or were replaced since they were last valued are priced.
    """
    per_day = "SELECT snapshot_date, max(fetched_at) AS fetched_at, count(*) AS rows FROM {} GROUP BY 1"
    with warehouse.open() as conn:
        todo, gone = chain.snapshot_days_to_value(
            conn.sql(per_day.format("raw.option_quotes")).pl(),
            conn.sql(per_day.format("analytics.option_valuations")).pl())
        rates, prices = wh.read_table(conn, "raw.rates_daily"), wh.read_prices(conn, SYMBOL)
        written = flagged = 0
        for day in todo:
            quotes = conn.sql("SELECT * FROM raw.option_quotes WHERE snapshot_date = ?", params=[day]).pl()
            frame = chain.value_quotes(quotes, rates, prices)
            written += wh.replace_rows(conn, "analytics.option_valuations", frame, where={"snapshot_date": day})
            flagged += frame.filter(pl.col("quality_flags") != "").height
        for day in gone:
            wh.replace_rows(conn, "analytics.option_valuations", pl.DataFrame(schema=chain.VALUATION_SCHEMA),
                            where={"snapshot_date": day})
        total = conn.execute("SELECT count(*) FROM analytics.option_valuations").fetchall()[0][0]
    context.log.info(f"valued snapshot days {todo}; dropped {gone}")
    return dg.MaterializeResult(metadata={
        "days_valued": ", ".join(str(day) for day in todo) or "none (all up to date)",
        "rows_written": written, "flagged_rows_written": flagged, "rows_total": total,
    })


@dg.asset(key_prefix=ANALYTICS, group_name=ANALYTICS, kinds={"duckdb", "polars"}, op_tags=WAREHOUSE_TAG,
          deps=[PRICES, GVZ, RATES])
def synthetic_chain_daily(warehouse: WarehouseResource, portfolio: PortfolioResource) -> dg.MaterializeResult:
    """Model prices and Greeks on a fixed moneyness x tenor grid for every GLD day (no lookahead)."""
    with warehouse.open() as conn:
        stored = wh.read_table(conn, "analytics.synthetic_chain_daily",
                               order_by="date, tenor_months, moneyness, option_right")
        frame = synthetic.synthetic_chain(wh.read_prices(conn, SYMBOL), wh.read_table(conn, "raw.gvz_daily"),
                                          wh.read_table(conn, "raw.rates_daily"), stored=stored)
        unchanged = stored.height == frame.height and frame.equals(stored.select(frame.columns))
        if not unchanged:
            wh.replace_rows(conn, "analytics.synthetic_chain_daily", frame)
    sources = frame.group_by("atm_vol_source").agg(pl.col("date").n_unique()).sort("atm_vol_source")
    return dg.MaterializeResult(metadata={
        "rows": frame.height, "first_date": str(frame["date"].min()), "last_date": str(frame["date"].max()),
        "rows_previously_stored": stored.height, "rewritten": not unchanged,
        "days_by_atm_vol_source": {row[0]: row[1] for row in sources.iter_rows()},
    })


@dg.asset(key_prefix=ANALYTICS, group_name=ANALYTICS, kinds={"duckdb", "polars"}, op_tags=WAREHOUSE_TAG,
          deps=[VALUATIONS, SYNTHETIC, PRICES])
def vol_surface_daily(warehouse: WarehouseResource, portfolio: PortfolioResource) -> dg.MaterializeResult:
    """ATM IV at 30..365 days, 25-delta put skew, realised vol and VRP per day."""
    with warehouse.open() as conn:
        frame = surface.vol_surface_daily(
            wh.read_table(conn, "analytics.option_valuations"),
            wh.read_table(conn, "analytics.synthetic_chain_daily"),
            wh.read_prices(conn, SYMBOL),
        )
        wh.replace_rows(conn, "analytics.vol_surface_daily", frame)
    latest = frame.row(-1, named=True)
    return dg.MaterializeResult(metadata={
        "rows": frame.height, "last_date": str(latest["date"]), "iv_source": latest["iv_source"],
        "atm_iv_30d": dg.MetadataValue.float(round(latest["atm_iv_30d"] or float("nan"), 6)),
        "vrp_30d_20d": dg.MetadataValue.float(round(latest["vrp_30d_20d"] or float("nan"), 6)),
    })
