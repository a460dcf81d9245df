"""`make run`: validate the portfolio, run the daily job once, say where the outputs are.

Runs the same job the schedule runs, through the Dagster instance in DAGSTER_HOME (the Makefile
points it at this project), so the run also shows up in the Dagster UI.
"""

import sys

import dagster as dg

from pipeline import config, paths, warehouse


def main() -> int:
    try:
        book = config.load_portfolio(paths.portfolio_path())
    except config.PortfolioConfigError as error:
        print(error, file=sys.stderr)
        return 2
    instance = dg.DagsterInstance.get()
    job = dg.reconstructable(_daily_job)
    result = dg.execute_job(job, instance=instance)
    if not result.success:
        print(f"run {result.run_id} failed; see the log above or the Dagster UI (make ui)", file=sys.stderr)
        return 1
    with warehouse.open_warehouse(warehouse.warehouse_path(), read_only=True) as conn:
        latest = conn.execute(
            "SELECT date, gld_close, ltv, margin_call_price, distance_to_margin_call "
            "FROM analytics.ltv_latest").fetchone()
        status = warehouse.latest_ingest_status(conn)
    day, close, ltv, call_price, distance = latest
    reports = sorted(paths.reports_dir().glob("*.pdf"))
    print(f"\nPortfolio  {book.name}: LTV {ltv:.1%} on {day} (GLD {close:.2f}); "
          f"margin call at GLD {call_price:.2f}, {distance:.1%} below")
    for table, detail in status.items():
        print(f"Data       {table}: {detail}")
    print(f"Warehouse  {warehouse.warehouse_path()}")
    print(f"Site       {paths.site_dir() / 'index.html'}")
    print(f"Reports    {', '.join(str(p) for p in reports) or '(none)'}")
    return 0


def _daily_job() -> dg.JobDefinition:
    from assets.definitions import defs

    return defs.resolve_job_def("daily_refresh")


if __name__ == "__main__":
    sys.exit(main())
