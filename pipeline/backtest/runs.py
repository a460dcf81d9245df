"""The named backtests: every template (and unhedged) replayed on one event, as table rows.

The loan of each event: `[backtest] loan` when given (fixed), else `initial_ltv` (default: the
portfolio's latest LTV) x the collateral's value on the event's start day, held fixed after.
Besides the templates, one trend-timed variant is run: the ATM put held only while GLD closes
below its ALMA (`protective_put_atm_alma`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl

from pipeline.backtest.engine import (UNHEDGED, Policy, Scenario, path_frame, run_scenario, runs_frame,
                                      trend_signal)
from pipeline.backtest.events import Event, event_window
from pipeline.backtest.providers import Market, PriceProvider
from pipeline.config import Portfolio
from pipeline.strategies.templates import template_by_id, templates_for

TREND_TEMPLATE: Final = "protective_put_atm"
TREND_SUFFIX: Final = "_alma"


@dataclass(frozen=True)
class EventResult:
    """One event's `analytics.backtest_runs` and `analytics.backtest_paths` rows."""

    runs: pl.DataFrame
    paths: pl.DataFrame


def named_policies(book: Portfolio) -> list[Policy]:
    """Each template at the configured hedge ratio and budget, plus the trend-timed ATM put."""
    s = book.backtest
    templates = templates_for(book)
    policies = [Policy.from_template(t, s.hedge_ratio, s.budget_cap) for t in templates]
    trend = Policy.from_template(template_by_id(templates, TREND_TEMPLATE), s.hedge_ratio, s.budget_cap, signal=True)
    return policies + [Policy(trend.policy_id + TREND_SUFFIX, trend.legs, trend.roll_dte, trend.hedge_ratio,
                              trend.budget_cap, True, trend.template_id)]


def book_signal(market: Market, book: Portfolio) -> np.ndarray:
    """The trend signal with the portfolio's ALMA settings."""
    s = book.backtest
    return trend_signal(market.close, s.alma_window, s.alma_offset, s.alma_sigma)


def scenario_for(market: Market, event: Event, book: Portfolio, latest_ltv: float) -> Scenario:
    """The event's window with the portfolio's collateral and the configured loan."""
    s = book.backtest
    first, _, last = event_window(market, event, s.tail_days)
    shares = book.share_count
    ltv = s.initial_ltv if s.initial_ltv is not None else latest_ltv
    loan = s.loan if s.loan is not None else ltv * shares * float(market.close[first])
    cure = book.loan.target_ltv if s.cure == "target" else None
    return Scenario(event.event_id, first, last, shares, loan, book.loan.margin_call_ltv, cure)


def event_backtest(provider: PriceProvider, event: Event, book: Portfolio, latest_ltv: float,
                   signal: np.ndarray) -> EventResult:
    """Replay unhedged and every named policy on `event`."""
    scenario = scenario_for(provider.market, event, book, latest_ltv)
    unhedged, *hedged = run_scenario(provider, scenario, [UNHEDGED, *named_policies(book)], signal)
    paths = pl.concat([path_frame(run, provider.market, provider.name) for run in [unhedged, *hedged]])
    return EventResult(runs_frame(hedged, unhedged, provider.market, provider.name), paths)
