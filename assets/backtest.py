"""Backtest assets: events partitioned by event id, the sweep split by policy family, one writer step.

Steps, in the `backtests` job (assets/schedules.py):
- `backtest_inputs` reads the warehouse once (market arrays, vendor chains, latest LTV).
- `backtest_event_results` (partitioned by event: presets + the portfolio's own windows) replays
  the named templates on each event; its results go to Parquet files (one folder per partition,
  `BacktestResultsIOManager`), never to the warehouse, so partitions can run in parallel.
- `backtest_sweep_<family>` (one asset per tenor family) replays that family's grid on every
  event; `margin_call_simulation` runs the Monte Carlo. None of them opens the warehouse: under
  the multiprocess executor (or the k8s / celery executors in a cluster, docs/backtests.md) they
  run side by side.
- `backtest_tables` is the one writer: all six analytics tables in one transaction.
"""


from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import polars as pl

from assets.resources import WAREHOUSE_TAG, OutputsResource, PortfolioResource, WarehouseResource
from pipeline import config, paths
from pipeline import warehouse as wh
from pipeline.backtest import sweep
from pipeline.backtest.events import events_for, events_frame, replayable
from pipeline.backtest.inputs import BacktestInputs, read_backtest_inputs
from pipeline.backtest.montecarlo import margin_call_probability
from pipeline.backtest.runs import EventResult, book_signal, event_backtest, scenario_for
from pipeline.publish.data import read_dashboard_data
from pipeline.publish.selloff import render_all_selloff_pdfs, render_selloff_pdf, selloff_report
from pipeline.strategies.templates import templates_for

GROUP = "backtest"
TABLES = ("backtest_events", "backtest_runs", "backtest_paths", "backtest_sweep", "hedge_policy_optimum",
          "margin_call_probability")


def _key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["analytics", name])


def _event_ids() -> list[str]:
    """Presets plus the portfolio's [[backtest.events]] (read when the definitions load)."""
    try:
        book = config.load_portfolio(paths.portfolio_path())
    except (config.PortfolioConfigError, OSError):
        book = None
    settings = book.backtest if book is not None else config.BacktestSettings()
    return [e.event_id for e in events_for(settings)]


EVENT_PARTITIONS = dg.StaticPartitionsDefinition(_event_ids())


@dg.asset(key_prefix="analytics", group_name=GROUP, op_tags=WAREHOUSE_TAG, kinds={"duckdb", "polars"},
          deps=[dg.AssetKey(["raw", "prices_daily"]), dg.AssetKey(["raw", "gvz_daily"]),
                dg.AssetKey(["raw", "rates_daily"]), _key("ltv_daily"), _key("option_valuations")])
def backtest_inputs(warehouse: WarehouseResource, portfolio: PortfolioResource) -> BacktestInputs:
    """Market arrays, vendor chains and the latest LTV: everything the backtests read, read once."""
    with warehouse.open(read_only=True) as conn:
        return read_backtest_inputs(conn, portfolio.load())


@dg.asset(key_prefix="analytics", group_name=GROUP, partitions_def=EVENT_PARTITIONS,
          backfill_policy=dg.BackfillPolicy.single_run(), io_manager_key="backtest_results_io_manager",
          kinds={"polars", "parquet"})
def backtest_event_results(context: dg.AssetExecutionContext, backtest_inputs: BacktestInputs,
                           portfolio: PortfolioResource) -> dict[str, EventResult]:
    """Every named template and unhedged, replayed on each event of this run's partitions."""
    book = portfolio.load()
    provider = backtest_inputs.provider(book.backtest.provider)
    signal = book_signal(provider.market, book)
    events = {e.event_id: e for e in events_for(book.backtest)}
    ready = {e.event_id for e in replayable(tuple(events.values()), provider.market)}
    results = {}
    for event_id in context.partition_keys:
        if event_id not in ready:
            context.log.warning(f"{event_id}: starts {events[event_id].start}, after the last close; nothing to replay yet")
            continue
        results[event_id] = event_backtest(provider, events[event_id], book, backtest_inputs.latest_ltv, signal)
        best = results[event_id].runs.row(0, named=True)
        context.log.info(f"{event_id}: best {best['policy_id']} (max LTV {best['max_ltv']:.3f}); "
                         f"unhedged survived: {best['unhedged_survived']}")
    return results


def _sweep_asset(family: str) -> dg.AssetsDefinition:
    @dg.asset(name=f"backtest_sweep_{family}", key_prefix="analytics", group_name=GROUP, kinds={"polars"})
    def _family(backtest_inputs: BacktestInputs, portfolio: PortfolioResource) -> pl.DataFrame:
        book = portfolio.load()
        provider = backtest_inputs.provider(book.backtest.provider)
        scenarios = [scenario_for(provider.market, e, book, backtest_inputs.latest_ltv)
                     for e in replayable(events_for(book.backtest), provider.market)]
        priced = sweep.price_family(provider, scenarios, book_signal(provider.market, book), family)
        return sweep.sweep_rows(priced, scenarios)

    _family.__doc__ = f"The sweep's {family} policies replayed on every event (pipeline/backtest/sweep.py)."
    return _family


SWEEP_ASSETS = [_sweep_asset(family) for family in sweep.FAMILIES]


@dg.asset(key_prefix="analytics", group_name=GROUP, kinds={"numba", "polars"})
def margin_call_simulation(backtest_inputs: BacktestInputs, portfolio: PortfolioResource) -> pl.DataFrame:
    """Monte Carlo margin-call probability: unhedged and every template (pipeline/backtest/montecarlo.py)."""
    book = portfolio.load()
    s = book.backtest
    start = backtest_inputs.surface.sort("date").row(-1, named=True)
    loan = backtest_inputs.latest_ltv * book.share_count * start["close"]
    return margin_call_probability(backtest_inputs.surface, book.share_count, loan, book.loan.margin_call_ltv,
                                   templates_for(book), paths=s.mc_paths, seed=s.mc_seed,
                                   mean_block_days=s.mc_mean_block_days, hedge_ratio=s.hedge_ratio)


@dg.multi_asset(
    specs=[dg.AssetSpec(_key(name), group_name=GROUP, kinds={"duckdb"},
                        description=f"analytics.{name} (warehouse/README.md, Backtest tables).",
                        deps=[dg.AssetDep(_key("backtest_event_results"), partition_mapping=dg.AllPartitionMapping()),
                              _key("backtest_inputs"), _key("margin_call_simulation"),
                              *(a.key for a in SWEEP_ASSETS)])
           for name in TABLES],
    ins={"backtest_event_results": dg.AssetIn(_key("backtest_event_results")),
         "backtest_inputs": dg.AssetIn(_key("backtest_inputs")),
         "margin_call_simulation": dg.AssetIn(_key("margin_call_simulation")),
         **{a.key.path[-1]: dg.AssetIn(a.key) for a in SWEEP_ASSETS}},
    op_tags=WAREHOUSE_TAG)
def backtest_tables(portfolio: PortfolioResource, warehouse: WarehouseResource,
                    backtest_event_results: dict[str, EventResult], backtest_inputs: BacktestInputs,
                    margin_call_simulation: pl.DataFrame, **families: pl.DataFrame) -> Iterator[dg.MaterializeResult]:
    """The one writer: events, runs, paths, sweep, optimum and probabilities in one transaction."""
    book = portfolio.load()
    events = events_frame(backtest_inputs.market(), events_for(book.backtest), book.backtest.tail_days)
    results = [backtest_event_results[e] for e in events["event_id"] if e in backtest_event_results]
    swept, optimum = sweep.finish_sweep(pl.concat(list(families.values())), book.loan.margin_call_ltv,
                                        book.backtest.ltv_buffer)
    frames = {"analytics.backtest_events": events,
              "analytics.backtest_runs": pl.concat([r.runs for r in results]),
              "analytics.backtest_paths": pl.concat([r.paths for r in results]),
              "analytics.backtest_sweep": swept, "analytics.hedge_policy_optimum": optimum,
              "analytics.margin_call_probability": margin_call_simulation}
    with warehouse.open() as conn:
        rows = wh.replace_tables(conn, frames)
    pick = optimum.filter(pl.col("kind") == "optimum")
    for name in TABLES:
        metadata: dict[str, object] = {"rows": rows[f"analytics.{name}"]}
        if name == "hedge_policy_optimum":
            metadata["optimum"] = pick["policy_id"][0] if pick.height else "none survives every event with the buffer"
        yield dg.MaterializeResult(asset_key=_key(name), metadata=metadata)


class SelloffReportConfig(dg.Config):
    """Which selloff PDFs to build: one event id, or every event when empty."""

    event_id: str = ""


@dg.asset(key_prefix="publish", group_name=GROUP, kinds={"pdf"}, op_tags=WAREHOUSE_TAG,
          deps=[_key(name) for name in TABLES])
def selloff_reports(config: SelloffReportConfig, warehouse: WarehouseResource, portfolio: PortfolioResource,
                    outputs: OutputsResource) -> dg.MaterializeResult:
    """`selloff_<event_id>.pdf` for every event (or the configured one): what happened, the ranking, the paths."""
    with warehouse.open(read_only=True) as conn:
        data = read_dashboard_data(conn, portfolio.load(), datetime.now(timezone.utc))
    known = data.backtests.events["event_id"].to_list()
    if config.event_id and config.event_id not in known:
        raise ValueError(f"event_id={config.event_id!r} has no backtest results; known: {known}")
    reports = Path(outputs.reports_dir)
    if config.event_id:
        built = [render_selloff_pdf(selloff_report(data, config.event_id),
                                    reports / f"selloff_{config.event_id}.pdf", paths.TEMPLATES_DIR)]
    else:
        built = render_all_selloff_pdfs(data, reports, paths.TEMPLATES_DIR)
    return dg.MaterializeResult(metadata={"pdfs": len(built), "paths": ", ".join(p.name for p in built)})


BACKTEST_ASSETS = [backtest_inputs, backtest_event_results, *SWEEP_ASSETS, margin_call_simulation, backtest_tables,
                   selloff_reports]
