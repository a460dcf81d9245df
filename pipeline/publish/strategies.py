"""The strategies page's figures, read from the strategy-engine tables.

The tables and their columns are those of warehouse/schema/50_analytics_strategies.sql. The page
describes one chain day: the latest `as_of` of analytics.strategy_comparison, with the other
per-day tables (order preview, scenarios, payoff, recommendation, sensitivity) taken at that same
day, so every number on it was computed from the same chain. The protection signal and tail risk
are their tables' latest day; the protection-cost index is the whole history.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, Final, TypeVar, get_args

import duckdb
import polars as pl

from pipeline import warehouse as wh
from pipeline.config import RiskProfile
from pipeline.publish.context import StatusLevel, classify_status
from pipeline.publish.formatting import format_pct, format_signed_pct, format_usd, format_vol_points

DOWNLOADS_DIR: Final = "downloads"
PROFILE_ORDER: Final[tuple[str, ...]] = get_args(RiskProfile)
SIGNAL_LABELS: Final = {"DISCOUNT": "protection cheap", "FAIR": "protection fair", "RICH": "protection rich"}
HORIZON_NOW: Final = "now"
SNAPSHOT_SOURCE_PREFIX: Final = "snapshot:"  # protection_cost_index.source of a day priced from a real chain
PAYOFF_HORIZON_LABELS: Final = {"expiry": "at expiry", "30d": "at +30 days"}  # chart order: expiry first
# Above this many days the cost-index history is charted weekly (keeps the page small).
COST_INDEX_MAX_DAILY_POINTS: Final = 520
_DOWNLOAD_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")

RowT = TypeVar("RowT")


@dataclass(frozen=True, eq=False)
class StrategyTables:
    """The strategy-engine rows the page needs, as Polars frames (empty before the engine has run)."""

    comparison: pl.DataFrame
    order_preview: pl.DataFrame
    scenarios: pl.DataFrame
    payoff: pl.DataFrame
    recommendation: pl.DataFrame
    sensitivity: pl.DataFrame
    protection_cost_index: pl.DataFrame
    protection_signal: pl.DataFrame
    tail_risk: pl.DataFrame


def read_strategy_tables(conn: duckdb.DuckDBPyConnection) -> StrategyTables:
    """The latest comparison day's rows of every per-day strategy table, plus the signal and
    tail-risk rows of their latest day and the full protection-cost index history."""
    comparison = wh.read_table(conn, "analytics.strategy_comparison_latest", order_by="template_id")
    as_of = comparison["as_of"][0] if comparison.height else None

    def on_comparison_day(table: str, order_by: str) -> pl.DataFrame:
        return wh.read_table(conn, f"analytics.{table}", order_by=order_by, where={"as_of": as_of})

    def latest_day(table: str) -> pl.DataFrame:
        return conn.sql(
            f"SELECT * FROM analytics.{table} WHERE date = (SELECT max(date) FROM analytics.{table})"
        ).pl()

    return StrategyTables(
        comparison=comparison,
        order_preview=on_comparison_day("order_preview", "template_id, leg_index"),
        scenarios=on_comparison_day("strategy_scenarios", "template_id, horizon, spot_shock, vol_shock"),
        payoff=on_comparison_day("strategy_payoff", "template_id, horizon, price_ratio"),
        recommendation=on_comparison_day("strategy_recommendation", "risk_profile, rank, template_id"),
        sensitivity=on_comparison_day("strategy_sensitivity", "risk_profile, spot_shock, vol_shock"),
        protection_cost_index=wh.read_table(conn, "analytics.protection_cost_index", order_by="date"),
        protection_signal=latest_day("protection_signal"),
        tail_risk=latest_day("tail_risk_daily"),
    )


@dataclass(frozen=True)
class ComparisonColumn:
    """One template's hedge as bought on the comparison day (fields named as in strategy_comparison)."""

    template_id: str
    display_name: str
    chain_source: str
    chain_level: StatusLevel
    status: str
    contracts: int
    expiry: date | None
    dte: int | None
    cost_at_fill: float | None
    cost_at_mid: float | None
    cost_pct_collateral: float | None
    cost_annualised_pct: float | None
    unhedged_margin_call_price: float
    hedged_margin_call_price: float | None
    fall_to_margin_call_unhedged_pct: float
    fall_to_margin_call_hedged_pct: float | None
    protection_points: float | None
    cost_per_protection_point: float | None
    floor_value: float | None
    max_loss: float | None
    breakeven_price: float | None
    upside_cap_price: float | None
    leg_notes: str
    is_pick: bool
    """Rank 1 for the portfolio's own risk profile."""

    @property
    def is_priced(self) -> bool:
        """False when a leg found no listed contract (the figures are then missing)."""
        return self.status == "ok"

    @property
    def hedge_covers_call(self) -> bool:
        """True when the hedge alone covers the margin call at any GLD price."""
        return self.is_priced and self.hedged_margin_call_price is None


@dataclass(frozen=True)
class RankedTemplate:
    """One template's place in a risk profile's ranking."""

    rank: int
    template_id: str
    display_name: str
    score: float | None
    eligible: bool
    rationale: str


@dataclass(frozen=True)
class ProfileRecommendation:
    """A risk profile's ranking of the templates, best first."""

    risk_profile: str
    is_portfolio_profile: bool
    ranking: tuple[RankedTemplate, ...]

    @property
    def pick(self) -> RankedTemplate:
        """The rank-1 template."""
        return self.ranking[0]


@dataclass(frozen=True)
class SensitivityCell:
    """The pick in one shocked market."""

    pick: str
    """Display name of the pick, or "nothing priced"."""
    changed: bool


@dataclass(frozen=True)
class SensitivityGrid:
    """A profile's pick under spot shocks (rows) x vol shocks (columns), with a one-line summary."""

    risk_profile: str
    is_portfolio_profile: bool
    base_pick: str
    spot_shocks: tuple[float, ...]
    vol_shocks: tuple[float, ...]
    cells: tuple[tuple[SensitivityCell | None, ...], ...]
    """cells[i][j]: spot_shocks[i] with vol_shocks[j]; None where the engine wrote no row."""
    summary: str


@dataclass(frozen=True)
class OrderLeg:
    """One line of a read-only order ticket (fields named as in order_preview)."""

    contract: str
    action: str
    contracts: int
    limit_price: float
    bid: float
    ask: float
    est_cost_at_mid: float
    est_cost_at_fill: float


@dataclass(frozen=True, eq=False)
class OrderTicket:
    """A template's order preview: its legs on the page and its rows as a CSV download."""

    template_id: str
    display_name: str
    chain_source: str
    legs: tuple[OrderLeg, ...]
    total_cash_needed: float
    download_path: str
    """Site-relative path of the CSV."""
    rows: pl.DataFrame
    """The template's analytics.order_preview rows, all columns, in leg order."""


@dataclass(frozen=True, eq=False)
class PayoffPanel:
    """Data for one template's payoff chart: hedge P/L and hedged equity over GLD at each horizon."""

    template_id: str
    display_name: str
    payoff: pl.DataFrame
    summary: str


@dataclass(frozen=True)
class ProtectionSignal:
    """Is protection cheap or rich: NVRP = 30-day ATM IV / 20-day realised vol - 1."""

    date: date
    iv_source: str
    atm_iv_30d: float
    hv20: float
    nvrp: float
    signal: str
    discount_below: float
    rich_above: float

    @property
    def label(self) -> str:
        """DISCOUNT / FAIR / RICH in words."""
        return SIGNAL_LABELS.get(self.signal, self.signal.lower())


@dataclass(frozen=True)
class TailRisk:
    """The worst stress of collateral plus held hedges on the latest day."""

    date: date
    equity: float
    worst_spot_shock: float
    worst_vol_shock: float
    worst_pnl: float
    tail_risk_pct: float
    status: str
    scenarios: int


@dataclass(frozen=True, eq=False)
class StrategiesContext:
    """Everything the strategies page (and the report's strategies section) shows."""

    portfolio_name: str
    risk_profile: str
    generated_at: datetime
    as_of: date | None
    """The chain day of the comparison; None before the strategy engine has run."""
    spot: float | None
    margin_call_ltv: float | None
    comparison: tuple[ComparisonColumn, ...]
    recommendations: tuple[ProfileRecommendation, ...]
    sensitivity: tuple[SensitivityGrid, ...]
    order_tickets: tuple[OrderTicket, ...]
    payoffs: tuple[PayoffPanel, ...]
    hedged_ltv_grid: pl.DataFrame
    """display_name, spot_shock, hedged_ltv at horizon "now" with vol unchanged, in column order."""
    hedged_ltv_summary: str
    cost_index: pl.DataFrame
    """date, source, cost_annualised_pct, real_chain (priced from a stored chain); weekly when long."""
    cost_index_put: str | None
    """The index put in words, e.g. "91-day 90%"; None without history."""
    cost_index_summary: str
    signal: ProtectionSignal | None
    tail_risk: TailRisk | None

    @property
    def has_comparison(self) -> bool:
        """False until the strategy engine has written a comparison."""
        return bool(self.comparison)

    @property
    def has_degraded_chain(self) -> bool:
        """True when some template was priced on a chain that is not fresh market data (model, stale)."""
        return any(column.chain_level != "fresh" for column in self.comparison)

    @property
    def cost_index_has_real_chain_days(self) -> bool:
        """True when some day of the cost index was priced from a stored real chain, not a model."""
        return bool(self.cost_index.height) and bool(self.cost_index["real_chain"].any())


def build_strategies_context(
    tables: StrategyTables, portfolio_name: str, risk_profile: str, generated_at: datetime
) -> StrategiesContext:
    """Shape the strategy tables for the page; the portfolio's `risk_profile` is highlighted and
    orders the comparison (its pick first)."""
    comparison = tables.comparison
    names = dict(zip(comparison["template_id"], comparison["display_name"], strict=True))
    recommendations = _recommendations(tables.recommendation, names, risk_profile)
    own_ranking = next((r.ranking for r in recommendations if r.is_portfolio_profile), ())
    rank_of = {entry.template_id: entry.rank for entry in own_ranking}
    rows = sorted(comparison.iter_rows(named=True),
                  key=lambda row: (rank_of.get(row["template_id"], len(rank_of) + 1), row["display_name"]))
    columns = tuple(
        _from_row(ComparisonColumn, row, chain_level=classify_status(row["chain_source"]),
                  is_pick=rank_of.get(row["template_id"]) == 1)
        for row in rows
    )
    first = rows[0] if rows else None
    margin_call_ltv = (first["loan"] / (first["collateral_shares"] * first["unhedged_margin_call_price"])
                       if first else None)
    hedged_ltv_grid = _hedged_ltv_grid(tables.scenarios, columns)
    cost_index = _cost_index_for_chart(tables.protection_cost_index)
    return StrategiesContext(
        portfolio_name=portfolio_name,
        risk_profile=risk_profile,
        generated_at=generated_at,
        as_of=first["as_of"] if first else None,
        spot=first["spot"] if first else None,
        margin_call_ltv=margin_call_ltv,
        comparison=columns,
        recommendations=recommendations,
        sensitivity=_sensitivity_grids(tables.sensitivity, names, risk_profile),
        order_tickets=_order_tickets(tables.order_preview, columns),
        payoffs=_payoff_panels(tables.payoff, columns),
        hedged_ltv_grid=hedged_ltv_grid,
        hedged_ltv_summary=_hedged_ltv_summary(hedged_ltv_grid, margin_call_ltv),
        cost_index=cost_index,
        cost_index_put=_cost_index_put(tables.protection_cost_index),
        cost_index_summary=_cost_index_summary(tables.protection_cost_index),
        signal=_latest(ProtectionSignal, tables.protection_signal),
        tail_risk=_latest(TailRisk, tables.tail_risk),
    )


def order_preview_download_path(template_id: str) -> str:
    """Site-relative CSV path of a template's order preview; refuses ids unsafe in a file name."""
    if not _DOWNLOAD_SAFE_ID.match(template_id):
        raise ValueError(f"template_id {template_id!r} cannot name a download file")
    return f"{DOWNLOADS_DIR}/order_preview_{template_id}.csv"


def _from_row(cls: type[RowT], row: Mapping[str, Any], **computed: Any) -> RowT:
    """A dataclass from a table row: fields named like columns are copied, the others given."""
    copied = {field.name: row[field.name] for field in fields(cls) if field.name not in computed}
    return cls(**copied, **computed)


def _latest(cls: type[RowT], frame: pl.DataFrame) -> RowT | None:
    """The frame's latest-dated row as `cls`, or None when empty."""
    return _from_row(cls, frame.sort("date").row(-1, named=True)) if frame.height else None


def _profile_sort_key(profile: str) -> tuple[int, str]:
    """Known profiles in their configured order (conservative first), others after by name."""
    return (PROFILE_ORDER.index(profile) if profile in PROFILE_ORDER else len(PROFILE_ORDER), profile)


def _recommendations(
    recommendation: pl.DataFrame, names: Mapping[str, str], risk_profile: str
) -> tuple[ProfileRecommendation, ...]:
    profiles = sorted(set(recommendation["risk_profile"]), key=_profile_sort_key)
    return tuple(
        ProfileRecommendation(
            risk_profile=profile,
            is_portfolio_profile=profile == risk_profile,
            ranking=tuple(
                _from_row(RankedTemplate, row, display_name=names.get(row["template_id"], row["template_id"]))
                for row in recommendation.filter(pl.col("risk_profile") == profile).sort("rank").iter_rows(named=True)
            ),
        )
        for profile in profiles
    )


def _sensitivity_grids(
    sensitivity: pl.DataFrame, names: Mapping[str, str], risk_profile: str
) -> tuple[SensitivityGrid, ...]:
    def display(template_id: str | None) -> str:
        return "nothing priced" if template_id is None else names.get(template_id, template_id)

    grids = []
    for profile in sorted(set(sensitivity["risk_profile"]), key=_profile_sort_key):
        rows = sensitivity.filter(pl.col("risk_profile") == profile)
        spot_shocks = tuple(sorted(set(rows["spot_shock"])))
        vol_shocks = tuple(sorted(set(rows["vol_shock"])))
        by_market = {
            (row["spot_shock"], row["vol_shock"]):
                SensitivityCell(display(row["pick_template_id"]), row["pick_changed"])
            for row in rows.iter_rows(named=True)
        }
        base_ids = rows["base_template_id"].drop_nulls()
        base_pick = display(base_ids[0] if base_ids.len() else None)
        grids.append(SensitivityGrid(
            risk_profile=profile,
            is_portfolio_profile=profile == risk_profile,
            base_pick=base_pick,
            spot_shocks=spot_shocks,
            vol_shocks=vol_shocks,
            cells=tuple(tuple(by_market.get((spot, vol)) for vol in vol_shocks) for spot in spot_shocks),
            summary=_sensitivity_summary(base_pick, by_market),
        ))
    return tuple(grids)


def _sensitivity_summary(base_pick: str, by_market: Mapping[tuple[float, float], SensitivityCell]) -> str:
    """Where the pick changes, by new pick and GLD move, e.g. "The pick, X, holds in 13 of 20 shocked
    markets. It becomes Y at spot -10%, -5% (any vol); spot 0% with +5, +10 vol pts."."""
    all_vols = {vol for _, vol in by_market}
    changes: dict[str, dict[float, list[float]]] = {}
    for (spot, vol), cell in sorted(by_market.items()):
        if cell.changed:
            changes.setdefault(cell.pick, {}).setdefault(spot, []).append(vol)
    total = len(by_market)
    if not changes:
        return f"The pick, {base_pick}, holds in all {total} shocked markets."

    def where(by_spot: dict[float, list[float]]) -> str:
        every_vol = [format_signed_pct(spot) for spot, vols in by_spot.items() if set(vols) == all_vols]
        parts = [f"spot {', '.join(every_vol)} (any vol)"] if every_vol else []
        parts += [
            f"spot {format_signed_pct(spot)} with "
            f"{', '.join(format_vol_points(vol).removesuffix(' vol pts') for vol in vols)} vol pts"
            for spot, vols in by_spot.items() if set(vols) != all_vols
        ]
        return "; ".join(parts)

    held = total - sum(len(vols) for by_spot in changes.values() for vols in by_spot.values())
    moves = " ".join(f"It becomes {pick} at {where(by_spot)}." for pick, by_spot in changes.items())
    return f"The pick, {base_pick}, holds in {held} of {total} shocked markets. {moves}"


def _order_tickets(order_preview: pl.DataFrame, columns: tuple[ComparisonColumn, ...]) -> tuple[OrderTicket, ...]:
    tickets = []
    for column in columns:
        rows = order_preview.filter(pl.col("template_id") == column.template_id).sort("leg_index")
        if rows.is_empty():
            continue
        tickets.append(OrderTicket(
            template_id=column.template_id,
            display_name=column.display_name,
            chain_source=rows["chain_source"][0],
            legs=tuple(_from_row(OrderLeg, row) for row in rows.iter_rows(named=True)),
            total_cash_needed=rows["total_cash_needed"][0],
            download_path=order_preview_download_path(column.template_id),
            rows=rows,
        ))
    return tuple(tickets)


def _payoff_panels(payoff: pl.DataFrame, columns: tuple[ComparisonColumn, ...]) -> tuple[PayoffPanel, ...]:
    panels = []
    for column in columns:
        horizon_order = pl.col("horizon").replace_strict(
            {horizon: i for i, horizon in enumerate(PAYOFF_HORIZON_LABELS)}, default=len(PAYOFF_HORIZON_LABELS)
        )
        rows = payoff.filter(pl.col("template_id") == column.template_id).sort(horizon_order, "horizon", "gld_price")
        if rows.is_empty():
            continue
        panels.append(PayoffPanel(
            template_id=column.template_id,
            display_name=column.display_name,
            payoff=rows.select(
                pl.col("horizon").replace(PAYOFF_HORIZON_LABELS),
                "gld_price", "hedge_pnl", "hedged_equity", "unhedged_equity",
            ),
            summary=_payoff_summary(rows),
        ))
    return tuple(panels)


def _payoff_summary(rows: pl.DataFrame) -> str:
    """The payoff at expiry (or the first horizon there is) in one sentence."""
    horizon = "expiry" if "expiry" in set(rows["horizon"]) else rows["horizon"][0]
    at = rows.filter(pl.col("horizon") == horizon)
    when = PAYOFF_HORIZON_LABELS.get(horizon, f"at horizon {horizon}")
    return (
        f"{when.capitalize()}, for GLD from {format_usd(at['gld_price'].min(), 2)} "
        f"to {format_usd(at['gld_price'].max(), 2)}: "
        f"hedge P/L from {format_usd(at['hedge_pnl'].min())} to {format_usd(at['hedge_pnl'].max())}; "
        f"hedged equity never below {format_usd(at['hedged_equity'].min())} "
        f"(unhedged: {format_usd(at['unhedged_equity'].min())})."
    )


def _hedged_ltv_grid(scenarios: pl.DataFrame, columns: tuple[ComparisonColumn, ...]) -> pl.DataFrame:
    names = pl.DataFrame({"template_id": [c.template_id for c in columns],
                          "display_name": [c.display_name for c in columns],
                          "column": list(range(len(columns)))},
                         schema={"template_id": pl.String, "display_name": pl.String, "column": pl.Int64})
    return (
        scenarios.filter((pl.col("horizon") == HORIZON_NOW) & (pl.col("vol_shock") == 0))
        .join(names, on="template_id")
        .sort("column", "spot_shock")
        .select("display_name", "spot_shock", "hedged_ltv")
    )


def _hedged_ltv_summary(grid: pl.DataFrame, margin_call_ltv: float | None) -> str:
    """Per template, the largest fall on the grid that keeps hedged LTV under the margin call."""
    if grid.is_empty() or margin_call_ltv is None:
        return "No scenario rows for today's market."
    parts = []
    for (name,), rows in grid.group_by("display_name", maintain_order=True):
        safe_fall = None
        falls = rows.filter(pl.col("spot_shock") <= 0).sort("spot_shock", descending=True)
        for spot_shock, hedged_ltv in falls.select("spot_shock", "hedged_ltv").iter_rows():
            if hedged_ltv >= margin_call_ltv:
                break
            safe_fall = spot_shock
        parts.append(f"{name} {format_signed_pct(safe_fall) if safe_fall is not None else 'none'}")
    return (f"Largest GLD move on the grid that keeps hedged LTV under the {format_pct(margin_call_ltv)} margin call "
            f"(today, vol unchanged): {'; '.join(parts)}.")


def _cost_index_for_chart(cost_index: pl.DataFrame) -> pl.DataFrame:
    """Date, source, annualised cost and whether a real chain priced it; the last day of each week
    per source when the history is long."""
    rows = cost_index.select(
        "date", "source", "cost_annualised_pct",
        pl.col("source").str.starts_with(SNAPSHOT_SOURCE_PREFIX).alias("real_chain"),
    ).sort("date")
    if rows.height <= COST_INDEX_MAX_DAILY_POINTS:
        return rows
    return (
        rows.group_by(pl.col("date").dt.truncate("1w").alias("week"), "source")
        .agg(pl.all().sort_by("date").last())
        .drop("week")
        .sort("date", "source")
    )


def _cost_index_put(cost_index: pl.DataFrame) -> str | None:
    """The latest day's index put in words: "91-day 90%"."""
    if cost_index.is_empty():
        return None
    latest = cost_index.sort("date").row(-1, named=True)
    return f"{latest['tenor_days']}-day {format_pct(latest['moneyness'], 0)}"


def _cost_index_summary(cost_index: pl.DataFrame) -> str:
    """Latest, median and range of the annualised cost, from the full daily history."""
    if cost_index.is_empty():
        return "No protection-cost history yet."
    history = cost_index.sort("date")
    latest = history.row(-1, named=True)
    cost = history["cost_annualised_pct"]
    return (
        f"Annualised cost of the {_cost_index_put(history)} put, "
        f"{history['date'][0].isoformat()} to {latest['date'].isoformat()}: "
        f"latest {format_pct(latest['cost_annualised_pct'])} ({latest['source']}), median {format_pct(cost.median())}, "
        f"range {format_pct(cost.min())} to {format_pct(cost.max())}."
    )
