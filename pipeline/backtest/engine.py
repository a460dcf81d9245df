"""Replay hedge policies over an event window: the frame layer around pipeline/backtest/engine_nb.py.

Three steps, so that many policies share their pricing (the sweep replays ~10,000):
1. plan: the roll schedule of a policy (`schedule_nb`) from the provider's contracts and the signal;
   it depends on no price, so quantities and budgets cannot change it.
2. price: every (leg, opening day) held by any plan is marked once, on every day it is held
   (`MarkBook`, one provider call: the "stored price surface" of held contracts).
3. replay: `simulate_nb` walks the days with the marks: opens at the ask, closes at the bid,
   marks at mid, pays exact expiry values, counts premium in equity and checks the margin call.

Rules (also restated, slowly, in pipeline/backtest/reference.py and docs/backtests.md):
- collateral = shares x close; hedged LTV = loan / (collateral + hedge mark); a breach is hedged
  LTV >= margin_call_ltv at a close; the loan is fixed unless the cure policy pays it down.
- equity = collateral + hedge mark - loan - net cash spent (premium paid - premium and payoffs
  received + cures paid), so buying a hedge moves equity by the spread only.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np
import polars as pl

from pipeline.backtest import engine_nb as nb
from pipeline.backtest.providers import (SOURCE_NAMES, SOURCE_NONE, LegContracts, MarkRequest, Market, Marks,
                                         PriceProvider)
from pipeline.strategies.legs import leg_contracts
from pipeline.strategies.templates import Leg, Template

UNHEDGED_ID: Final = "unhedged"
MIN_TENOR_GAP_DAYS: Final = 7  # roll_dte must leave at least this many days of a new contract's life


@dataclass(frozen=True)
class Policy:
    """A template's legs plus how they are run: roll rule, hedge ratio, budget cap, trend signal."""

    policy_id: str
    legs: tuple[Leg, ...]
    roll_dte: int
    hedge_ratio: float = 1.0
    budget_cap: float | None = None
    signal: bool = False
    template_id: str | None = None

    def __post_init__(self) -> None:
        if self.legs and not 0 < self.hedge_ratio <= 1:
            raise ValueError(f"policy {self.policy_id}: hedge_ratio={self.hedge_ratio!r} must be in (0, 1]")
        if self.budget_cap is not None and not self.budget_cap > 0:
            raise ValueError(f"policy {self.policy_id}: budget_cap={self.budget_cap!r} must be above 0")
        shortest = min((leg.tenor_days for leg in self.legs), default=None)
        if shortest is not None and not 0 <= self.roll_dte <= shortest - MIN_TENOR_GAP_DAYS:
            raise ValueError(f"policy {self.policy_id}: roll_dte={self.roll_dte!r} must be in 0.."
                             f"{shortest - MIN_TENOR_GAP_DAYS} (its shortest leg has {shortest} days)")

    @classmethod
    def from_template(cls, template: Template, hedge_ratio: float = 1.0, budget_cap: float | None = None,
                      signal: bool = False) -> Policy:
        return cls(template.template_id, template.legs, template.roll_dte, hedge_ratio, budget_cap, signal,
                   template.template_id)

    @property
    def signs(self) -> np.ndarray:
        """+1 per long leg, -1 per short leg, as the kernels take them."""
        return np.asarray([leg.sign for leg in self.legs], dtype=np.float64)

    def contracts(self, shares: float) -> np.ndarray:
        """Contracts per leg when the full hedge ratio is bought (`leg_contracts` rounding)."""
        return np.asarray(leg_contracts(self.legs, self.hedge_ratio * shares), dtype=np.float64)


UNHEDGED: Final = Policy(UNHEDGED_ID, (), 0, 0.0)


@dataclass(frozen=True)
class Scenario:
    """One event window on the market: path days first..last (indices), the loan and its rules."""

    event_id: str
    first: int
    last: int
    shares: float
    loan: float
    margin_call_ltv: float
    cure_target: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.first <= self.last:
            raise ValueError(f"scenario {self.event_id}: first={self.first} .. last={self.last} is not a window")
        if not self.shares > 0 or not self.loan > 0:
            raise ValueError(f"scenario {self.event_id}: shares={self.shares!r} and loan={self.loan!r} must be > 0")


def trend_signal(close: np.ndarray, window: int, offset: float, sigma: float) -> np.ndarray:
    """True on days to hedge under the trend-timed policy: close below its ALMA (or ALMA not yet defined)."""
    alma = nb.alma_nb(np.ascontiguousarray(close, dtype=np.float64), window, offset, sigma)
    return ~(close >= alma)


def _leg_key(leg: Leg) -> Leg:
    """What a leg's contract and marks depend on (not its side or weight)."""
    return dataclasses.replace(leg, side="long", weight=1.0)


@dataclass
class Plan:
    """A policy's holdings on a scenario: opening/closing days, how each ended, per-leg contracts."""

    policy: Policy
    scenario: Scenario
    opens: np.ndarray
    closes: np.ndarray
    ends: np.ndarray
    mark_at: np.ndarray | None = None  # (holdings, legs) offsets into the MarkBook's marks


class MarkBook:
    """Every held (leg, opening day) of many plans, marked in one provider call."""

    def __init__(self, provider: PriceProvider) -> None:
        self.provider = provider
        self._contracts: dict[Leg, LegContracts] = {}
        self._opens: dict[Leg, list[np.ndarray]] = defaultdict(list)
        self._closes: dict[Leg, list[np.ndarray]] = defaultdict(list)
        self._priced: dict[Leg, tuple[np.ndarray, np.ndarray]] = {}
        self.marks: Marks | None = None

    def contracts(self, leg: Leg) -> LegContracts:
        key = _leg_key(leg)
        if key not in self._contracts:
            self._contracts[key] = self.provider.contracts(key)
        return self._contracts[key]

    def plan(self, policy: Policy, scenario: Scenario, signal: np.ndarray) -> Plan:
        """Schedule `policy` on `scenario` and register its holdings for pricing."""
        market = self.provider.market
        n = market.size
        if not policy.legs:
            empty = np.zeros(0, dtype=np.int64)
            return Plan(policy, scenario, empty, empty.copy(), empty.copy(), np.zeros((0, 0), dtype=np.int64))
        contracts = [self.contracts(leg) for leg in policy.legs]
        open_ok = np.logical_and.reduce([np.isfinite(c.strike) for c in contracts])
        nearest_idx = np.minimum.reduce([c.expiry_idx for c in contracts])
        nearest_ord = np.minimum.reduce([c.expiry_ord for c in contracts])
        on = signal if policy.signal else np.ones(n, dtype=np.bool_)
        size = scenario.last - scenario.first + 1
        opens, closes, ends = (np.zeros(size, dtype=np.int64) for _ in range(3))
        k = nb.schedule_nb(scenario.first, scenario.last, market.day_ord, on, open_ok, nearest_idx, nearest_ord,
                           policy.roll_dte, opens, closes, ends)
        plan = Plan(policy, scenario, opens[:k].copy(), closes[:k].copy(), ends[:k].copy())
        for leg in policy.legs:
            key = _leg_key(leg)
            self._opens[key].append(plan.opens)
            self._closes[key].append(plan.closes)
        return plan

    def price(self) -> Marks:
        """Mark every registered holding: one request per distinct (leg, opening day), to its latest close."""
        requests, keys = [], []
        for key, opens in self._opens.items():
            all_opens = np.concatenate(opens)
            all_closes = np.concatenate(self._closes[key])
            unique, inverse = np.unique(all_opens, return_inverse=True)
            last = np.zeros(unique.size, dtype=np.int64)
            np.maximum.at(last, inverse, all_closes)
            contracts = self._contracts[key]
            requests.append((np.full(unique.size, key.option_right == "C"), contracts.strike[unique],
                             contracts.expiry_ord[unique], unique, last))
            keys.append(key)
        if not requests:
            self.marks = Marks(*(np.zeros(0) for _ in range(4)), np.zeros(0, dtype=np.int8))
            return self.marks
        request = MarkRequest(*(np.concatenate([r[i] for r in requests]) for i in range(5)))
        self.marks = self.provider.marks(request)
        start = 0
        for key, r in zip(keys, requests):
            self._priced[key] = (r[3], self.marks.offset[start:start + r[3].size])
            start += r[3].size
        return self.marks

    def mark_at(self, plan: Plan) -> np.ndarray:
        """(holdings, legs) offsets of `plan`'s marks: holding h, leg l, day d at offset + d - opens[h]."""
        if plan.mark_at is None:
            columns = []
            for leg in plan.policy.legs:
                unique, offsets = self._priced[_leg_key(leg)]
                columns.append(offsets[np.searchsorted(unique, plan.opens)])
            plan.mark_at = np.stack(columns, axis=1).astype(np.int64)
        return plan.mark_at


@dataclass(frozen=True)
class Replay:
    """One replayed (scenario, policy): daily path arrays (engine_nb.PATH_*), totals and summary."""

    plan: Plan
    paths: np.ndarray
    totals: np.ndarray
    summary: np.ndarray
    source: np.ndarray  # SOURCE_* of the first leg's mark each day (SOURCE_NONE when nothing held)


def _cap(value: float | None) -> float:
    return math.nan if value is None else float(value)


def replay(book: MarkBook, plan: Plan) -> Replay:
    """Walk one priced plan day by day (`simulate_nb`)."""
    market, s, policy = book.provider.market, plan.scenario, plan.policy
    assert book.marks is not None, "MarkBook.price() first"
    marks = book.marks
    mark_at = book.mark_at(plan) if policy.legs else np.zeros((0, 0), dtype=np.int64)
    days = s.last - s.first + 1
    paths = np.empty((nb.PATH_ROWS, days))
    totals = np.empty(nb.TOTALS_SIZE)
    nb.simulate_nb(s.first, s.last, market.close, market.day_ord, s.shares, s.loan, s.margin_call_ltv,
                   _cap(s.cure_target), _cap(policy.budget_cap), plan.opens, plan.closes, plan.ends,
                   policy.signs, policy.contracts(s.shares), mark_at, marks.mid, marks.bid, marks.ask,
                   paths, totals)
    summary = nb.summarize_nb(paths[nb.PATH_HEDGED_LTV].copy(), paths[nb.PATH_EQUITY].copy(), s.margin_call_ltv)
    source = np.full(days, SOURCE_NONE, dtype=np.int8)
    for h in range(plan.opens.size):
        held_to = plan.closes[h] if plan.ends[h] == nb.END_OPEN else plan.closes[h] - 1
        day = np.arange(plan.opens[h], held_to + 1)
        source[day - s.first] = marks.source[mark_at[h, 0] + day - plan.opens[h]]
    return Replay(plan, paths, totals, summary, source)


def run_scenario(provider: PriceProvider, scenario: Scenario, policies: list[Policy],
                 signal: np.ndarray) -> list[Replay]:
    """Plan, price and replay every policy on one scenario (unhedged is just a policy without legs)."""
    book = MarkBook(provider)
    plans = [book.plan(policy, scenario, signal) for policy in policies]
    book.price()
    return [replay(book, plan) for plan in plans]


PATH_SCHEMA: Final = {
    "event_id": pl.String, "policy_id": pl.String, "provider": pl.String, "date": pl.Date,
    "gld_close": pl.Float64, "collateral_value": pl.Float64, "hedge_value": pl.Float64, "cash_spent": pl.Float64,
    "loan": pl.Float64, "unhedged_ltv": pl.Float64, "hedged_ltv": pl.Float64, "equity": pl.Float64,
    "breach": pl.Boolean, "price_source": pl.String,
}


def path_frame(run: Replay, market: Market, provider: str) -> pl.DataFrame:
    """`analytics.backtest_paths` rows of one replay."""
    s = run.plan.scenario
    days = slice(s.first, s.last + 1)
    p = run.paths
    return pl.DataFrame({
        "event_id": s.event_id, "policy_id": run.plan.policy.policy_id, "provider": provider,
        "date": market.dates[days], "gld_close": market.close[days],
        "collateral_value": s.shares * market.close[days], "hedge_value": p[nb.PATH_HEDGE],
        "cash_spent": p[nb.PATH_CASH], "loan": p[nb.PATH_LOAN], "unhedged_ltv": p[nb.PATH_UNHEDGED_LTV],
        "hedged_ltv": p[nb.PATH_HEDGED_LTV], "equity": p[nb.PATH_EQUITY], "breach": p[nb.PATH_BREACH] > 0,
        "price_source": np.asarray(SOURCE_NAMES)[run.source],
    }, schema=PATH_SCHEMA)


def _optional(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def summary_row(run: Replay, market: Market) -> dict[str, object]:
    """The figures of one replay, named as in `analytics.backtest_runs` (hedged side)."""
    s, summary, totals = run.plan.scenario, run.summary, run.totals
    breach = int(summary[nb.SUM_FIRST_BREACH])
    years = max((market.day_ord[s.last] - market.day_ord[s.first]) / 365.25, 1 / 365.25)
    return {
        "survived": breach < 0,
        "max_ltv": float(summary[nb.SUM_MAX_LTV]),
        "max_ltv_date": market.day(s.first + int(summary[nb.SUM_MAX_LTV_DAY])),
        "first_breach_date": market.day(s.first + breach) if breach >= 0 else None,
        "final_equity": float(summary[nb.SUM_FINAL_EQUITY]),
        "hedge_cost_total": float(totals[nb.TOTAL_COST]),
        "hedge_cost_annualised_pct": float(totals[nb.TOTAL_COST_FRACTION]) / years,
        "payoff_received": float(totals[nb.TOTAL_PAYOFF]),
        "sharpe": _optional(summary[nb.SUM_SHARPE]),
        "max_drawdown": float(summary[nb.SUM_MAX_DRAWDOWN]),
        "win_rate": _optional(summary[nb.SUM_WIN_RATE]),
        "profit_factor": _optional(summary[nb.SUM_PROFIT_FACTOR]),
        "trades": int(totals[nb.TOTAL_TRADES]),
    }


UNHEDGED_FIGURES: Final = ("survived", "max_ltv", "max_ltv_date", "first_breach_date", "final_equity", "sharpe",
                           "max_drawdown", "win_rate", "profit_factor")


def runs_frame(runs: list[Replay], unhedged: Replay, market: Market, provider: str) -> pl.DataFrame:
    """`analytics.backtest_runs` rows: each replay beside the unhedged one, ranked within the event."""
    s = unhedged.plan.scenario
    base = summary_row(unhedged, market)
    rows = []
    for run in runs:
        policy = run.plan.policy
        rows.append({
            "event_id": s.event_id, "policy_id": policy.policy_id, "template_id": policy.template_id,
            "provider": provider, "hedge_ratio": policy.hedge_ratio, "roll_dte": policy.roll_dte,
            "budget_cap": policy.budget_cap, "signal": "alma" if policy.signal else "none",
            "start_date": market.day(s.first), "path_end_date": market.day(s.last),
            "initial_ltv": s.loan / (s.shares * market.close[s.first]), "loan_start": s.loan,
            "margin_call_ltv": s.margin_call_ltv, **summary_row(run, market),
            **{f"unhedged_{name}": base[name] for name in UNHEDGED_FIGURES},
        })
    frame = pl.DataFrame(rows, schema_overrides={"template_id": pl.String, "budget_cap": pl.Float64,
                                                 "first_breach_date": pl.Date, "unhedged_first_breach_date": pl.Date,
                                                 "sharpe": pl.Float64, "win_rate": pl.Float64,
                                                 "profit_factor": pl.Float64, "unhedged_sharpe": pl.Float64,
                                                 "unhedged_win_rate": pl.Float64, "unhedged_profit_factor": pl.Float64})
    return rank_runs(frame)


def rank_runs(frame: pl.DataFrame) -> pl.DataFrame:
    """Rank 1 = survived, then the lowest max LTV, then the cheapest (per event and provider)."""
    order = frame.sort(["event_id", "provider", "survived", "max_ltv", "hedge_cost_total", "policy_id"],
                       descending=[False, False, True, False, False, False])
    return order.with_columns(rank=pl.int_range(1, pl.len() + 1).over("event_id", "provider").cast(pl.Int32))


def event_day_range(market: Market, start: date, end: date, tail_days: int) -> tuple[int, int]:
    """(first, last) path indices: the first close on/after start to tail_days closes after end (capped)."""
    first = market.index_on_or_after(start)
    end_index = market.index_on_or_before(end)
    if first >= market.size or end_index < first:
        raise ValueError(f"event {start}..{end}: no closes in the window (data {market.day(0)}..{market.day(-1)})")
    return first, min(end_index + tail_days, market.size - 1)
