"""The Backtests page's figures, read from the backtest engine's tables.

The tables and their columns are those of warehouse/schema/60_analytics_backtest.sql: the event
windows, each template replayed on each window (with the unhedged twin of every figure), their
daily paths, the policy sweep with its Pareto frontier and the optimizer's pick, and the Monte Carlo
margin-call probabilities. The selloff PDF (selloff.py) renders one event with the same panel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache, partial
from typing import TYPE_CHECKING, Any, Final

import duckdb
import polars as pl

from pipeline import warehouse as wh
from pipeline.publish.charts import PageChart, backtest_paths_chart, page_chart, pareto_chart
from pipeline.publish.context import LtvLevel
from pipeline.publish.formatting import format_number, format_pct, format_usd
from pipeline.publish.strategies import DOWNLOADS_DIR, _from_row

if TYPE_CHECKING:
    from pipeline.publish.data import DashboardData

UNHEDGED: Final = "unhedged"
"""policy_id of the run without a hedge."""
UNHEDGED_NAME: Final = "Unhedged"
FULL_EVENT_ID: Final = "full"
"""The whole-history event, listed after the named selloffs."""
# A path is charted daily up to this many days, else as weekly highs while that stays within this many
# points, else as monthly highs: every line has at most ~260 points, so eleven events fit the page budget
# and the peaks (the point of the chart) are kept.
PATH_MAX_POINTS: Final = 260
PATH_RESOLUTIONS: Final = (("1w", 5, "weekly"), ("1mo", 21, "monthly"))  # truncate every, days per step, in words
# The sweep's cloud is thinned to one policy per cell of this many x this many cells of the chart.
PARETO_GRID_CELLS: Final = 20
RUNS_DOWNLOAD: Final = f"{DOWNLOADS_DIR}/backtest_runs.csv"
SWEEP_DOWNLOAD: Final = f"{DOWNLOADS_DIR}/backtest_sweep.csv"
SWEPT_POLICY: Final = "Swept policy"
FRONTIER: Final = "Frontier"
OPTIMUM: Final = "Optimum"


@dataclass(frozen=True, eq=False)
class BacktestTables:
    """The backtest engine's rows as Polars frames (empty, with their columns, before it has run)."""

    events: pl.DataFrame
    """analytics.backtest_events, by start date, the 'full' event last."""
    runs: pl.DataFrame
    """analytics.backtest_runs, by event, rank and policy."""
    paths: pl.DataFrame
    """analytics.backtest_paths, by event, policy and date."""
    sweep: pl.DataFrame
    """analytics.backtest_sweep."""
    optimum: pl.DataFrame
    """analytics.hedge_policy_optimum: the pick (kind 'optimum') and the frontier, cheapest first."""
    probabilities: pl.DataFrame
    """analytics.margin_call_probability, by horizon and policy."""

    @property
    def has_results(self) -> bool:
        return any(frame.height for frame in (self.events, self.sweep, self.optimum, self.probabilities))


def read_backtest_tables(conn: duckdb.DuckDBPyConnection) -> BacktestTables:
    """All six backtest tables."""
    return BacktestTables(
        events=wh.read_table(conn, "analytics.backtest_events",
                             order_by=f"event_id = '{FULL_EVENT_ID}', start_date, event_id"),
        runs=wh.read_table(conn, "analytics.backtest_runs", order_by="event_id, rank, policy_id, provider"),
        paths=wh.read_table(conn, "analytics.backtest_paths", order_by="event_id, policy_id, provider, date"),
        sweep=wh.read_table(conn, "analytics.backtest_sweep", order_by="policy_id"),
        optimum=wh.read_table(conn, "analytics.hedge_policy_optimum", order_by="kind, cost_annualised_pct, policy_id"),
        probabilities=wh.read_table(conn, "analytics.margin_call_probability", order_by="horizon_days, policy_id"),
    )


@cache
def empty_backtest_tables() -> BacktestTables:
    """The tables before the engine has run, with the schema's columns (the schema applied to a
    throwaway in-memory database), so code reading them needs no special case for missing columns."""
    conn = duckdb.connect(":memory:")
    try:
        wh.apply_schema(conn)
        return read_backtest_tables(conn)
    finally:
        conn.close()


def policy_names(strategy_comparison: pl.DataFrame) -> dict[str, str]:
    """policy_id -> what readers see: the template's display name, 'Unhedged' for the unhedged run."""
    names = dict(zip(strategy_comparison["template_id"], strategy_comparison["display_name"], strict=True))
    return names | {UNHEDGED: UNHEDGED_NAME}


@dataclass(frozen=True)
class EventWindow:
    """One event window (fields named as in backtest_events)."""

    event_id: str
    label: str
    source: str
    start_date: date
    end_date: date
    path_end_date: date
    tail_days: int
    trading_days: int
    start_close: float
    end_close: float
    low_close: float
    low_date: date
    drawdown: float

    @property
    def anchor(self) -> str:
        """The page's element id of the event's section."""
        return f"event-{self.event_id}"


@dataclass(frozen=True)
class RankedRun:
    """One line of an event's ranking; the unhedged line spends and receives nothing on hedges."""

    rank: int | None
    policy_id: str
    name: str
    provider: str
    survived: bool
    max_ltv: float
    max_ltv_date: date
    first_breach_date: date | None
    hedge_cost_total: float
    hedge_cost_annualised_pct: float
    payoff_received: float
    final_equity: float

    @property
    def is_unhedged(self) -> bool:
        return self.policy_id == UNHEDGED


@dataclass(frozen=True, eq=False)
class EventPanel:
    """An event as the page section and the selloff PDF show it."""

    event: EventWindow
    ranking: tuple[RankedRun, ...]
    """The hedged runs, best first."""
    unhedged: RankedRun | None
    """The same loan without a hedge, from the runs' unhedged_* twins."""
    margin_call_ltv: float | None
    providers: tuple[str, ...]
    ltv_paths: pl.DataFrame
    """date, series (legend label, best policy first, unhedged last), ltv, unhedged; weekly or monthly
    highs when long."""
    resolution: str | None
    """None when daily, else "weekly" or "monthly"."""
    gld_path: pl.DataFrame
    """date, gld_close over the path; the lows of each week or month when the LTV paths are highs."""
    summary: str


def event_panel(event: Mapping[str, Any], runs: pl.DataFrame, paths: pl.DataFrame,
                names: Mapping[str, str]) -> EventPanel:
    """One event's ranking and paths; `runs` and `paths` are that event's rows."""
    window = _from_row(EventWindow, event)
    ordered = runs.sort("rank", "policy_id", "provider")
    providers = tuple(ordered["provider"].unique(maintain_order=True))
    hedged = ordered.filter(pl.col("policy_id") != UNHEDGED)
    with_provider = len(providers) > 1  # then a policy's label says which chains priced it
    ranking = tuple(_ranked_run(row, names, with_provider) for row in hedged.iter_rows(named=True))
    unhedged = _unhedged_run(ordered) if ordered.height else None
    margin_call_ltv = ordered["margin_call_ltv"][0] if ordered.height else None
    ltv_paths = _ltv_paths(paths, ordered, names, with_provider)
    resolution = _resolution(ltv_paths["date"].n_unique())
    return EventPanel(
        event=window,
        ranking=ranking,
        unhedged=unhedged,
        margin_call_ltv=margin_call_ltv,
        providers=providers,
        ltv_paths=_highs(ltv_paths, resolution),
        resolution=resolution[2] if resolution else None,
        gld_path=_gld_lows(paths, resolution),
        summary=_event_summary(ranking, unhedged, margin_call_ltv),
    )


def _policy_label(policy_id: str, provider: str, names: Mapping[str, str], with_provider: bool) -> str:
    name = names.get(policy_id, policy_id)
    return f"{name} ({provider})" if with_provider else name


def _ranked_run(row: Mapping[str, Any], names: Mapping[str, str], with_provider: bool) -> RankedRun:
    return _from_row(RankedRun, row, name=_policy_label(row["policy_id"], row["provider"], names, with_provider))


def _unhedged_run(runs: pl.DataFrame) -> RankedRun:
    """The unhedged line from the unhedged_* twins; its rank is the stored 'unhedged' run's, if any."""
    row = runs.row(0, named=True)
    stored = runs.filter(pl.col("policy_id") == UNHEDGED)
    return RankedRun(
        rank=stored["rank"][0] if stored.height else None,
        policy_id=UNHEDGED,
        name=UNHEDGED_NAME,
        provider=row["provider"],
        survived=row["unhedged_survived"],
        max_ltv=row["unhedged_max_ltv"],
        max_ltv_date=row["unhedged_max_ltv_date"],
        first_breach_date=row["unhedged_first_breach_date"],
        hedge_cost_total=0.0,
        hedge_cost_annualised_pct=0.0,
        payoff_received=0.0,
        final_equity=row["unhedged_final_equity"],
    )


def _ltv_paths(paths: pl.DataFrame, runs: pl.DataFrame, names: Mapping[str, str], with_provider: bool) -> pl.DataFrame:
    """One line per run in ranking order, the unhedged one last: its own path when the engine stored
    an 'unhedged' run, else the unhedged_ltv of the best run's path (same loan, same closes)."""
    order = [(row["policy_id"], row["provider"]) for row in runs.iter_rows(named=True) if row["policy_id"] != UNHEDGED]
    lines = []
    for policy_id, provider in order:
        rows = paths.filter((pl.col("policy_id") == policy_id) & (pl.col("provider") == provider))
        lines.append(rows.select("date", pl.lit(_policy_label(policy_id, provider, names, with_provider))
                                 .alias("series"), pl.col("hedged_ltv").alias("ltv"), pl.lit(False).alias("unhedged")))
    stored = paths.filter(pl.col("policy_id") == UNHEDGED)
    if stored.is_empty() and order:
        policy_id, provider = order[0]
        stored = paths.filter((pl.col("policy_id") == policy_id) & (pl.col("provider") == provider))
    lines.append(stored.select("date", pl.lit(UNHEDGED_NAME).alias("series"), pl.col("unhedged_ltv").alias("ltv"),
                               pl.lit(True).alias("unhedged")))
    schema = {"date": pl.Date, "series": pl.String, "ltv": pl.Float64, "unhedged": pl.Boolean}
    return pl.concat([line.cast(schema) for line in lines]).sort("date", maintain_order=True)


def _resolution(days: int) -> tuple[str, int, str] | None:
    """None (daily) for short paths, else the finest of PATH_RESOLUTIONS that keeps PATH_MAX_POINTS."""
    if days <= PATH_MAX_POINTS:
        return None
    return next((step for step in PATH_RESOLUTIONS if days / step[1] <= PATH_MAX_POINTS), PATH_RESOLUTIONS[-1])


def _gld_lows(paths: pl.DataFrame, resolution: tuple[str, int, str] | None) -> pl.DataFrame:
    """GLD's close on each day of the path (the same for every policy), or the lowest close of each step
    on the day it closed there (so the marked low is the event's)."""
    closes = paths.group_by("date").agg(pl.col("gld_close").first()).sort("date")
    if resolution is None:
        return closes
    return (closes.group_by(pl.col("date").dt.truncate(resolution[0]).alias("step"), maintain_order=True)
            .agg(pl.col("date").sort_by("gld_close").first(), pl.col("gld_close").min()).drop("step"))


def _highs(lines: pl.DataFrame, resolution: tuple[str, int, str] | None) -> pl.DataFrame:
    """Each line's highest LTV of each week or month, dated on its last day (the lines as they are when daily)."""
    if resolution is None:
        return lines
    return (
        lines.with_columns(pl.col("date").dt.truncate(resolution[0]).alias("step"))
        .group_by("step", "series", maintain_order=True)
        .agg(pl.col("date").max(), pl.col("ltv").max(), pl.col("unhedged").first())
        .drop("step")
        .sort("date", maintain_order=True)
    )


def _event_summary(ranking: tuple[RankedRun, ...], unhedged: RankedRun | None, margin_call_ltv: float | None) -> str:
    """Where unhedged LTV peaked and whether it hit the call; how many hedged runs kept below it."""
    if unhedged is None or margin_call_ltv is None:
        return "No runs for this event."
    call = (f"hit the {format_pct(margin_call_ltv)} margin call on {unhedged.first_breach_date.isoformat()}"
            if unhedged.first_breach_date else f"stayed below the {format_pct(margin_call_ltv)} margin call")
    text = (f"Unhedged, LTV peaked at {format_pct(unhedged.max_ltv)} on {unhedged.max_ltv_date.isoformat()} "
            f"and {call}.")
    if ranking:
        survived = sum(run.survived for run in ranking)
        best = ranking[0]
        text += (f" {survived} of {len(ranking)} hedged policies kept LTV below it; the best, {best.name}, "
                 f"peaked at {format_pct(best.max_ltv)} for {format_usd(best.hedge_cost_total)}.")
    return text


@dataclass(frozen=True)
class SweptPolicy:
    """A swept policy's parameters and outcome (fields named as in hedge_policy_optimum)."""

    policy_id: str
    family: str
    moneyness: float
    tenor_days: int
    roll_dte: int
    hedge_ratio: float
    ladder_rungs: int
    signal: bool
    survived_all: bool
    worst_max_ltv: float
    cost_annualised_pct: float


@dataclass(frozen=True, eq=False)
class SweepPanel:
    """The sweep's Pareto chart data, its frontier and the optimizer's pick."""

    policies: int
    frontier: tuple[SweptPolicy, ...]
    """Cheapest first."""
    optimum: SweptPolicy | None
    ltv_cap: float | None
    levels: tuple[LtvLevel, ...]
    """The margin-call LTV and the optimizer's LTV cap, drawn as rules."""
    points: pl.DataFrame
    """cost_annualised_pct, worst_max_ltv, policy_id, kind (swept policy / frontier / optimum): every
    frontier policy and a thinned cloud of the others."""
    cloud_note: str | None
    """Says how the cloud was thinned; None when every policy is drawn."""
    summary: str


def sweep_panel(sweep: pl.DataFrame, optimum: pl.DataFrame, margin_call_ltv: float | None) -> SweepPanel:
    """The sweep for the page; the cloud is thinned to one policy per cell of a PARETO_GRID_CELLS grid."""
    frontier = tuple(_from_row(SweptPolicy, row) for row in
                     optimum.filter(pl.col("kind") == "frontier").sort("cost_annualised_pct").iter_rows(named=True))
    picked = optimum.filter(pl.col("kind") == "optimum")
    pick = _from_row(SweptPolicy, picked.row(0, named=True)) if picked.height else None
    ltv_cap = optimum["ltv_cap"][0] if optimum.height else None
    levels = tuple(level for level in (
        LtvLevel("Margin call", margin_call_ltv, "margin-call") if margin_call_ltv is not None else None,
        LtvLevel("LTV cap", ltv_cap, "warn") if ltv_cap is not None else None,
    ) if level is not None)
    pick_id = pick.policy_id if pick else None
    cloud = _thinned_cloud(sweep.filter(~pl.col("on_frontier") & (pl.col("policy_id") != pick_id)))
    marked = sweep.filter(pl.col("on_frontier") | (pl.col("policy_id") == pick_id)).with_columns(
        pl.when(pl.col("policy_id") == pick_id).then(pl.lit(OPTIMUM)).otherwise(pl.lit(FRONTIER)).alias("kind"))
    columns = ["cost_annualised_pct", "worst_max_ltv", "policy_id", "kind"]
    points = pl.concat([cloud.with_columns(pl.lit(SWEPT_POLICY).alias("kind")).select(columns),
                        marked.select(columns).sort("cost_annualised_pct")])
    cloud_total = sweep.height - marked.height
    return SweepPanel(
        policies=sweep.height, frontier=frontier, optimum=pick, ltv_cap=ltv_cap, levels=levels, points=points,
        cloud_note=(f"The chart shows every frontier policy and {format_number(cloud.height)} of the "
                    f"{format_number(cloud_total)} others (one per cell of a {PARETO_GRID_CELLS} x {PARETO_GRID_CELLS} "
                    "grid over the chart, so the cloud keeps its shape); the sweep download has them all."
                    if cloud.height < cloud_total else None),
        summary=_sweep_summary(sweep.height, frontier, pick, ltv_cap),
    )


def _thinned_cloud(policies: pl.DataFrame) -> pl.DataFrame:
    """The first policy (by id) in each occupied cell of a grid over cost and worst LTV."""
    if policies.height <= PARETO_GRID_CELLS:
        return policies

    def cell(column: str) -> pl.Expr:
        low, high = pl.col(column).min(), pl.col(column).max()
        return ((pl.col(column) - low) / (high - low) * (PARETO_GRID_CELLS - 1)).fill_nan(0).round().cast(pl.Int32)

    return (policies.sort("policy_id").with_columns(cell("cost_annualised_pct").alias("_x"),
                                                    cell("worst_max_ltv").alias("_y"))
            .unique(subset=["_x", "_y"], keep="first", maintain_order=True).drop("_x", "_y"))


def _sweep_summary(policies: int, frontier: tuple[SweptPolicy, ...], pick: SweptPolicy | None,
                   ltv_cap: float | None) -> str:
    text = f"{format_number(policies)} policies swept over every event; {len(frontier)} are on the frontier."
    if pick:
        text += (f" The optimum, {pick.policy_id}, costs {format_pct(pick.cost_annualised_pct, 2)} a year and kept "
                 f"the worst LTV at {format_pct(pick.worst_max_ltv)}, below the {format_pct(ltv_cap)} cap.")
    elif ltv_cap is not None:
        text += f" No policy kept the worst LTV below the {format_pct(ltv_cap)} cap: there is no optimum."
    return text


@dataclass(frozen=True)
class Probability:
    """A margin-call probability with its 95 % interval."""

    probability: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class ProbabilityRow:
    policy_id: str
    name: str
    cells: tuple[Probability | None, ...]
    """One per horizon of the table; None where the engine wrote no row."""


@dataclass(frozen=True)
class ProbabilityTable:
    """Monte Carlo margin-call probabilities: policies (unhedged first) x horizons."""

    horizons: tuple[int, ...]
    rows: tuple[ProbabilityRow, ...]
    simulations: tuple[str, ...]
    """Each distinct simulation set-up in words (paths, seed, method, start), usually one."""


def probability_table(probabilities: pl.DataFrame, names: Mapping[str, str]) -> ProbabilityTable:
    horizons = tuple(sorted(set(probabilities["horizon_days"])))
    policies = sorted(set(probabilities["policy_id"]),
                      key=lambda policy: (policy != UNHEDGED, names.get(policy, policy)))
    cells = {(row["policy_id"], row["horizon_days"]): _from_row(Probability, row)
             for row in probabilities.iter_rows(named=True)}
    setups = probabilities.select("paths", "seed", "method", "start_date", "start_ltv").unique(maintain_order=True)
    return ProbabilityTable(
        horizons=horizons,
        rows=tuple(ProbabilityRow(policy, names.get(policy, policy),
                                  tuple(cells.get((policy, horizon)) for horizon in horizons)) for policy in policies),
        simulations=tuple(
            f"{format_number(paths)} paths, seed {seed}, method {method}, from {start.isoformat()} "
            f"at LTV {format_pct(start_ltv)}"
            for paths, seed, method, start, start_ltv in setups.iter_rows()
        ),
    )


def event_outcomes(events: pl.DataFrame, runs: pl.DataFrame) -> pl.DataFrame:
    """Per event: event_id, label, drawdown, trading_days, the best (rank 1) hedged policy_id, and
    whether the loan survived unhedged; in the order of `events`. The page's event list and the
    selloff report's comparison with past events."""
    hedged = runs.filter(pl.col("policy_id") != UNHEDGED)
    best = (hedged.sort("rank", "policy_id").group_by("event_id", maintain_order=True)
            .agg(pl.col("policy_id").first().alias("best_policy_id"), pl.col("unhedged_survived").first()))
    return (events.select("event_id", "label", "drawdown", "trading_days")
            .join(best, on="event_id", how="left", maintain_order="left"))


@dataclass(frozen=True)
class EventOutcome:
    """One line of a list of events (a row of `event_outcomes`), the best policy named."""

    event_id: str
    label: str
    drawdown: float
    trading_days: int
    best_policy_id: str | None
    best_policy: str | None
    unhedged_survived: bool | None


def event_outcome_rows(outcomes: pl.DataFrame, names: Mapping[str, str]) -> tuple[EventOutcome, ...]:
    return tuple(
        _from_row(EventOutcome, row, best_policy=(names.get(row["best_policy_id"], row["best_policy_id"])
                                                  if row["best_policy_id"] else None))
        for row in outcomes.iter_rows(named=True)
    )


@dataclass(frozen=True, eq=False)
class BacktestsContext:
    """What the Backtests page shows."""

    tables: BacktestTables
    events: tuple[EventPanel, ...]
    outcomes: tuple[EventOutcome, ...]
    sweep: SweepPanel | None
    probabilities: ProbabilityTable | None

    @property
    def has_results(self) -> bool:
        """False until the backtest engine has written results."""
        return self.tables.has_results

    @property
    def downloads(self) -> dict[str, str]:
        """Site-relative path -> what it holds, for the tables there are rows of."""
        listed = {RUNS_DOWNLOAD: "every event x policy run (analytics.backtest_runs)",
                  SWEEP_DOWNLOAD: "every swept policy (analytics.backtest_sweep)"}
        present = {RUNS_DOWNLOAD: self.tables.runs.height, SWEEP_DOWNLOAD: self.tables.sweep.height}
        return {path: what for path, what in listed.items() if present[path]}


def build_backtests_context(data: DashboardData) -> BacktestsContext:
    """The page's panels from the backtest tables; template names come from the strategy comparison."""
    tables = data.backtests
    names = policy_names(data.strategies.comparison)
    margin_call_ltv = tables.runs["margin_call_ltv"][0] if tables.runs.height else None
    return BacktestsContext(
        tables=tables,
        events=tuple(
            event_panel(event, tables.runs.filter(pl.col("event_id") == event["event_id"]),
                        tables.paths.filter(pl.col("event_id") == event["event_id"]), names)
            for event in tables.events.iter_rows(named=True)
        ),
        outcomes=event_outcome_rows(event_outcomes(tables.events, tables.runs), names),
        sweep=sweep_panel(tables.sweep, tables.optimum, margin_call_ltv)
        if tables.sweep.height or tables.optimum.height else None,
        probabilities=probability_table(tables.probabilities, names) if tables.probabilities.height else None,
    )


def backtests_charts(context: BacktestsContext) -> dict[str, object]:
    """An LTV-paths chart per event with paths (by event_id), and the Pareto chart; only for the data there is."""
    path_charts: dict[str, PageChart] = {
        panel.event.event_id: page_chart(partial(backtest_paths_chart, panel.ltv_paths, panel.margin_call_ltv))
        for panel in context.events if panel.ltv_paths.height
    }
    sweep = context.sweep
    return {
        "path_charts": path_charts,
        "pareto_chart": (page_chart(partial(pareto_chart, sweep.points, sweep.levels))
                         if sweep and sweep.points.height else None),
    }


def backtests_downloads(context: BacktestsContext) -> dict[str, bytes]:
    """The runs and the whole sweep as CSV (the page charts a thinned sweep)."""
    frames = {RUNS_DOWNLOAD: context.tables.runs, SWEEP_DOWNLOAD: context.tables.sweep}
    return {path: frames[path].write_csv().encode("utf-8") for path in context.downloads}
