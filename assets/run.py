"""`make run`: validate the portfolio, run the daily job once, say where the outputs are and where the time went.

Runs the job the schedule runs (`daily_refresh`, same assets and checks), through the Dagster
instance in DAGSTER_HOME (the Makefile points it at this project), so the run also shows up in the
Dagster UI. A one-shot run executes its steps in this one process: the daemon's multiprocess
executor starts a process per step (~2.5 s each), which is most of a warm run's time otherwise.
A second `make run` on the same warehouse refuses while one is going (pipeline.warehouse.run_lock).
"""

import os
import sys
import time
from datetime import datetime, timezone

import dagster as dg
import duckdb

from assets.backtest import EVENT_PARTITIONS
from assets.schedules import all_events_tags
from pipeline import config, paths, warehouse
from pipeline.market import embedded, options


def main() -> int:
    started = time.monotonic()
    try:
        book = config.load_portfolio(paths.portfolio_path())
    except config.PortfolioConfigError as error:
        print(error, file=sys.stderr)
        return 2
    try:
        with warehouse.run_lock(warehouse.warehouse_path()):
            return _run(book, started)
    except warehouse.RunInProgressError as error:
        print(error, file=sys.stderr)
        return 3


def _load_kernels() -> float:
    """Seconds to load (or, with an empty .numba_cache, compile) the pricing kernels the run uses."""
    start = time.monotonic()
    from pipeline.pricing import american_greeks, american_price, bs_greeks, implied_vol

    american_greeks(False, 100.0, 95.0, 0.25, 0.04, 0.004, 0.2)
    american_price(False, 100.0, 95.0, 0.25, 0.04, 0.004, 0.2)
    bs_greeks(False, 100.0, 95.0, 0.25, 0.04, 0.004, 0.2)
    implied_vol(3.0, False, 100.0, 95.0, 0.25, 0.04, 0.004, american=True)
    return time.monotonic() - start


def _step_seconds(results: list[dg.JobExecutionResult]) -> list[tuple[str, float]]:
    """(step, seconds) of every successful step of the runs, slowest first."""
    steps = [(event.step_key, event.event_specific_data.duration_ms / 1000.0) for result in results
             for event in result.all_events if event.is_step_success and event.step_key]
    return sorted(steps, key=lambda step: -step[1])


def _timing_line(setup: float | None, definitions: float, kernels: float, results: list[dg.JobExecutionResult],
                 total: float) -> str:
    steps = _step_seconds(results)
    slowest = ", ".join(f"{name} {seconds:.1f}" for name, seconds in steps[:5])
    parts = ([f"setup (environment, system packages, Python start) {setup:.1f} s"] if setup is not None else []) + [
        f"definitions {definitions:.1f} s", f"kernels {kernels:.1f} s",
        f"{len(steps)} steps {sum(s for _, s in steps):.1f} s (slowest: {slowest})", f"run total {total:.1f} s"]
    return "Time       " + "; ".join(parts)


def _run(book: config.Portfolio, started: float) -> int:
    make_started = os.environ.get("VAULT_MAKE_STARTED")
    setup = time.time() - float(make_started) - (time.monotonic() - started) if make_started else None
    kernels = _load_kernels()
    loading = time.monotonic()
    instance = dg.DagsterInstance.get()
    job = dg.reconstructable(_daily_job)
    _daily_job()  # load the definitions once here, so their time is said apart from the steps'
    definitions = time.monotonic() - loading
    snapshot_day = _snapshot_partition()
    result = dg.execute_job(job, instance=instance, tags={"dagster/partition": snapshot_day})
    if not result.success:
        print(f"run {result.run_id} failed; see the log above or the Dagster UI (make ui)", file=sys.stderr)
        return 1
    backtests = dg.execute_job(dg.reconstructable(_backtests_job), instance=instance,
                               tags=all_events_tags(EVENT_PARTITIONS.get_partition_keys()))
    if not backtests.success:
        print(f"backtests run {backtests.run_id} failed; see the log above or the Dagster UI (make ui)",
              file=sys.stderr)
        return 1
    with warehouse.open_warehouse(warehouse.warehouse_path(), read_only=True) as conn:
        latest = conn.execute(
            "SELECT date, gld_close, ltv, margin_call_price, distance_to_margin_call "
            "FROM analytics.ltv_latest").fetchone()
        status = warehouse.latest_ingest_status(conn)
        chain = conn.execute("SELECT snapshot_date, source, count(*) FROM analytics.chain_latest "
                             "GROUP BY ALL").fetchall()
        hedges = conn.execute(
            "SELECT position_id, triage, mark, mark_source FROM analytics.positions_daily "
            "WHERE date = (SELECT max(date) FROM analytics.positions_daily) ORDER BY position_id").fetchall()
        picks = conn.execute(
            "SELECT risk_profile, is_portfolio_profile, rationale FROM analytics.strategy_pick_latest "
            "ORDER BY array_position(['conservative', 'balanced', 'aggressive'], risk_profile)").fetchall()
        alerts = conn.execute("SELECT level, rule, subject, delivery_status FROM analytics.alerts "
                              "WHERE delivery_status = 'pending' ORDER BY level, rule").fetchall()
        ranking = conn.execute(
            "SELECT rank, policy_id, survived, max_ltv, first_breach_date, unhedged_first_breach_date "
            "FROM analytics.backtest_runs WHERE event_id = 'jan_2026' ORDER BY rank").fetchall()
        optimum = conn.execute("SELECT policy_id, cost_annualised_pct, worst_max_ltv FROM analytics.hedge_policy_optimum "
                               "WHERE kind = 'optimum'").fetchall()
    day, close, ltv, call_price, distance = latest
    reports = sorted(paths.reports_dir().glob("*.pdf"))
    print(f"\nPortfolio  {book.name}: LTV {ltv:.1%} on {day} (GLD {close:.2f}); "
          f"margin call at GLD {call_price:.2f}, {distance:.1%} below")
    for table, detail in status.items():
        print(f"Data       {table}: {detail}")
    for chain_day, source, contracts in chain:
        note = " (model chain, not market quotes)" if source == "model" else ""
        print(f"Chain      {chain_day}: {contracts} contracts, source {source}{note}")
    for position_id, triage, mark, mark_source in hedges:
        print(f"Hedge      {position_id}: {triage}, marked {mark:.2f} ({mark_source})")
    for profile, own, rationale in picks:
        print(f"Strategy   {profile}{' (yours)' if own else ''}: {rationale}")
    for level, rule, subject, delivery in alerts:
        print(f"Alert      {level} {rule} ({subject}): {delivery}")
    if ranking:
        unhedged = ranking[0][5]
        print(f"Backtest   jan_2026: unhedged {'breaches on ' + str(unhedged) if unhedged else 'survives'}; "
              + ", ".join(f"{rank}. {policy} (max LTV {ltv:.1%}{'' if ok else ', breach ' + str(breach)})"
                          for rank, policy, ok, ltv, breach, _ in ranking[:3]))
    for policy, cost, worst in optimum:
        print(f"Optimum    {policy}: survives every event, worst LTV {worst:.1%}, {cost:.2%} of collateral a year")
    print(f"Warehouse  {warehouse.warehouse_path()}")
    print(f"Site       {paths.site_dir() / 'index.html'}")
    print(f"Reports    {', '.join(str(p) for p in reports) or '(none)'}")
    print(_timing_line(setup, definitions, kernels, [result, backtests], time.monotonic() - started))
    return 0


def _snapshot_partition() -> str:
    """The chain-snapshot partition this run fills (the job holds a daily-partitioned asset).

    Live: the last completed NYSE session. Offline: the latest GLD day in the data (embedded, or
    already stored by an earlier live run) - the model chain is for the latest trading day we
    have a close for, not for today.
    """
    now = datetime.now(timezone.utc)
    latest = embedded.load_prices("GLD", now)["date"].max()
    if warehouse.warehouse_path().exists():
        try:
            with warehouse.open_warehouse(warehouse.warehouse_path(), read_only=True) as conn:
                stored = conn.execute(
                    "SELECT max(date) FROM raw.prices_daily WHERE symbol = 'GLD'").fetchall()[0][0]
            latest = max(latest, stored) if stored else latest
        except duckdb.CatalogException:  # a file from before the first run has no tables yet
            pass
    return options.default_snapshot_day(paths.live_mode(), now, latest).isoformat()


def _backtests_job() -> dg.JobDefinition:
    """`backtests` (every event partition in one run) in this process, like `_daily_job`."""
    from assets.definitions import defs

    return defs.resolve_job_def("backtests").with_executor_def(dg.in_process_executor)


def _daily_job() -> dg.JobDefinition:
    """`daily_refresh` with every step in this process (the definitions keep the daemon's executor)."""
    from assets.definitions import defs

    return defs.resolve_job_def("daily_refresh").with_executor_def(dg.in_process_executor)


if __name__ == "__main__":
    sys.exit(main())
