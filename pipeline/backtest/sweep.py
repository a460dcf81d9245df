"""The policy sweep (`analytics.backtest_sweep`) and the optimizer (`analytics.hedge_policy_optimum`).

Grid: put moneyness (1.00 .. 0.75 by 0.025) x tenor (30, 61, 91, 121, 182, 365 days) x roll DTE
(0 = hold to expiry, 5, 10, 15, 21, 30; only values leaving >= 7 days of a new contract) x hedge
ratio (0.25 .. 1) x ladder (1, 2 or 3 puts 5 % of spot apart, equal weights, lowest rung >= 75 %)
x trend signal (off / on): 11,340 policies, each replayed on every event.

A family is one tenor: its policies share every priced contract, so families are independent
units of work (Dagster runs them as separate assets, in parallel under the multiprocess executor).
Per policy: events survived, the worst max LTV over all events, and the cost of running it on
the `full` event (2004 to the last close). The optimum is the cheapest policy (annualised cost on
`full`) that survives every event with its worst LTV at least `ltv_buffer` below the margin call;
the frontier is every policy no other policy beats on both cost and worst LTV.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl

from pipeline.backtest import engine_nb as nb
from pipeline.backtest.engine import MIN_TENOR_GAP_DAYS, MarkBook, Policy, Scenario
from pipeline.backtest.events import FULL_EVENT_ID
from pipeline.backtest.providers import PriceProvider
from pipeline.strategies.templates import Leg

MONEYNESS: Final = tuple(round(1.0 - 0.025 * i, 3) for i in range(11))
TENORS: Final = (30, 61, 91, 121, 182, 365)
ROLL_DTES: Final = (0, 5, 10, 15, 21, 30)
HEDGE_RATIOS: Final = (0.25, 0.4, 0.5, 0.6, 0.75, 1.0)
RUNGS: Final = (1, 2, 3)
RUNG_STEP: Final = 0.05
LOWEST_RUNG: Final = 0.75
SIGNALS: Final = (False, True)


def family_of(tenor_days: int) -> str:
    return f"tenor_{tenor_days}d"


FAMILIES: Final = tuple(family_of(t) for t in TENORS)


@dataclass(frozen=True)
class SweepPolicy:
    """One grid point."""

    moneyness: float
    tenor_days: int
    roll_dte: int
    hedge_ratio: float
    rungs: int
    signal: bool

    @property
    def policy_id(self) -> str:
        return (f"put_m{self.moneyness:.3f}_t{self.tenor_days}_r{self.roll_dte}_h{self.hedge_ratio:.2f}"
                f"_l{self.rungs}_s{int(self.signal)}")

    @property
    def family(self) -> str:
        return family_of(self.tenor_days)

    @property
    def legs(self) -> tuple[Leg, ...]:
        weight = 1.0 / self.rungs
        return tuple(Leg("P", "long", round(self.moneyness - RUNG_STEP * i, 3), weight, self.tenor_days)
                     for i in range(self.rungs))

    def policy(self) -> Policy:
        return Policy(self.policy_id, self.legs, self.roll_dte, self.hedge_ratio, None, self.signal)


def sweep_grid(family: str | None = None) -> list[SweepPolicy]:
    """Every grid point (of one family when given), in a stable order."""
    grid = [SweepPolicy(m, t, r, h, n, s)
            for t, m, n, r, s, h in itertools.product(TENORS, MONEYNESS, RUNGS, ROLL_DTES, SIGNALS, HEDGE_RATIOS)
            if r <= t - MIN_TENOR_GAP_DAYS and m - RUNG_STEP * (n - 1) >= LOWEST_RUNG - 1e-9]
    if family is not None:
        if family not in FAMILIES:
            raise ValueError(f"family={family!r}: expected one of {FAMILIES}")
        grid = [p for p in grid if p.family == family]
    return grid


SWEEP_SCHEMA: Final = {
    "policy_id": pl.String, "family": pl.String, "moneyness": pl.Float64, "tenor_days": pl.Int32,
    "roll_dte": pl.Int32, "hedge_ratio": pl.Float64, "ladder_rungs": pl.Int32, "signal": pl.Boolean,
    "events": pl.Int32, "events_survived": pl.Int32, "survived_all": pl.Boolean, "worst_max_ltv": pl.Float64,
    "total_cost": pl.Float64, "cost_annualised_pct": pl.Float64,
}


@dataclass(frozen=True)
class PricedFamily:
    """A family's plans, priced: the input of `replay_family` (the benchmark times them apart)."""

    book: MarkBook
    groups: list[tuple[list[SweepPolicy], object]]  # (policies differing only in hedge ratio, their plan)


def price_family(provider: PriceProvider, scenarios: list[Scenario], signal: np.ndarray, family: str) -> PricedFamily:
    """Plan every (legs, roll, signal) of `family` on every scenario and mark all held contracts."""
    book = MarkBook(provider)
    by_shape: dict[tuple, list[SweepPolicy]] = {}
    for p in sweep_grid(family):
        by_shape.setdefault((p.moneyness, p.rungs, p.roll_dte, p.signal), []).append(p)
    groups = [(variants, book.plan(variants[0].policy(), scenario, signal))
              for variants in by_shape.values() for scenario in scenarios]
    book.price()
    return PricedFamily(book, groups)


def replay_family(priced: PricedFamily) -> dict[str, np.ndarray]:
    """Per policy id: one row per scenario of (summary..., totals...) (`sweep_group_nb`)."""
    market, marks = priced.book.provider.market, priced.book.marks
    out: dict[str, list[np.ndarray]] = {}
    for variants, plan in priced.groups:
        s = plan.scenario
        contracts = np.stack([v.policy().contracts(s.shares) for v in variants])
        result = np.empty((len(variants), nb.SUMMARY_SIZE + nb.TOTALS_SIZE))
        nb.sweep_group_nb(s.first, s.last, market.close, market.day_ord, s.shares, s.loan, s.margin_call_ltv,
                          math.nan if s.cure_target is None else s.cure_target, math.nan,
                          plan.opens, plan.closes, plan.ends, plan.policy.signs, contracts,
                          priced.book.mark_at(plan), marks.mid, marks.bid, marks.ask, result)
        for v, row in zip(variants, result):
            out.setdefault(v.policy_id, []).append(row)
    return {k: np.stack(v) for k, v in out.items()}


def sweep_rows(priced: PricedFamily, scenarios: list[Scenario]) -> pl.DataFrame:
    """`analytics.backtest_sweep` rows of one family (on_frontier is decided over all families)."""
    results = replay_family(priced)
    market = priced.book.provider.market
    full = next((i for i, s in enumerate(scenarios) if s.event_id == FULL_EVENT_ID), len(scenarios) - 1)
    s_full = scenarios[full]
    years = max((market.day_ord[s_full.last] - market.day_ord[s_full.first]) / 365.25, 1 / 365.25)
    rows = []
    policies = {p.policy_id: p for variants, _ in priced.groups for p in variants}
    for policy_id, table in results.items():
        p = policies[policy_id]
        survived = table[:, nb.SUM_FIRST_BREACH] < 0
        cost = float(table[full, nb.SUMMARY_SIZE + nb.TOTAL_COST])
        fraction = float(table[full, nb.SUMMARY_SIZE + nb.TOTAL_COST_FRACTION])
        rows.append((policy_id, p.family, p.moneyness, p.tenor_days, p.roll_dte, p.hedge_ratio, p.rungs, p.signal,
                     len(scenarios), int(survived.sum()), bool(survived.all()),
                     float(table[:, nb.SUM_MAX_LTV].max()), cost, fraction / years))
    return pl.DataFrame(rows, schema=SWEEP_SCHEMA, orient="row")


def pareto_front(cost: np.ndarray, worst: np.ndarray) -> np.ndarray:
    """True where no other point has cost <= and worst <= with one of them strictly lower."""
    order = np.lexsort((worst, cost))
    front = np.zeros(cost.size, dtype=np.bool_)
    best = math.inf
    for i in order:
        if worst[i] < best:
            front[i] = True
            best = worst[i]
    return front


def finish_sweep(rows: pl.DataFrame, margin_call_ltv: float, ltv_buffer: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(`backtest_sweep` with on_frontier, `hedge_policy_optimum`) from every family's rows."""
    rows = rows.sort("policy_id")
    front = pareto_front(rows["cost_annualised_pct"].to_numpy(), rows["worst_max_ltv"].to_numpy())
    sweep = rows.with_columns(on_frontier=pl.Series(front))
    cap = margin_call_ltv - ltv_buffer
    columns = ["policy_id", "family", "moneyness", "tenor_days", "roll_dte", "hedge_ratio", "ladder_rungs", "signal",
               "survived_all", "worst_max_ltv", "cost_annualised_pct"]
    optimum = (sweep.filter(pl.col("survived_all") & (pl.col("worst_max_ltv") <= cap))
               .sort("cost_annualised_pct", "worst_max_ltv", "policy_id").head(1)
               .select(pl.lit("optimum").alias("kind"), *columns))
    frontier = sweep.filter("on_frontier").sort("cost_annualised_pct").select(pl.lit("frontier").alias("kind"), *columns)
    return sweep, pl.concat([optimum, frontier]).with_columns(ltv_cap=pl.lit(cap))
