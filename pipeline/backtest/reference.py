"""The backtest rules as one plain per-day loop: the test oracle of engine.py and its speed baseline.

Obvious rather than fast: every held leg is priced by its own one-day provider call, cash and
budget are plain floats, and the summary figures are computed from Python lists. It shares only
the provider (what a contract is worth) and the contract sizing with the engine, nothing of the
schedule, the mark book, the replay or the summary.
"""

from __future__ import annotations

import math
import numpy as np

from pipeline.backtest.engine import Policy, Scenario
from pipeline.backtest.providers import MarkRequest, PriceProvider


def _mark(provider: PriceProvider, is_call: bool, strike: float, expiry_ord: int, day: int) -> tuple[float, float, float]:
    one = provider.marks(MarkRequest(np.array([is_call]), np.array([strike]), np.array([expiry_ord], dtype=np.int64),
                                     np.array([day], dtype=np.int64), np.array([day], dtype=np.int64)))
    return float(one.mid[0]), float(one.bid[0]), float(one.ask[0])


def reference_replay(provider: PriceProvider, scenario: Scenario, policy: Policy,
                     signal: np.ndarray) -> dict[str, object]:
    """Per-day replay of `policy` on `scenario`: the daily lists and every summary figure."""
    market = provider.market
    legs = policy.legs
    offers = [provider.contracts(leg) for leg in legs]
    full = [float(n) for n in policy.contracts(scenario.shares)] if legs else []
    loan = scenario.loan
    cash = cost_total = cost_fraction = payoff = 0.0
    trades = 0
    purchases: list[tuple[int, float]] = []  # (day ordinal, premium paid)
    held: dict[str, list] | None = None
    hedged_ltv, equity, hedge_values = [], [], []
    for d in range(scenario.first, scenario.last + 1):
        spot = float(market.close[d])
        today = int(market.day_ord[d])
        if held is not None:
            nearest_index = min(held["expiry_idx"])
            nearest_ord = min(held["expiry_ord"])
            expired = d >= nearest_index
            roll = nearest_ord - today <= policy.roll_dte
            signal_off = policy.signal and not signal[d]
            if expired or roll or signal_off:
                for i, leg in enumerate(legs):
                    _, bid, ask = _mark(provider, leg.option_right == "C", held["strike"][i], held["expiry_ord"][i], d)
                    received = leg.sign * held["contracts"][i] * (bid if leg.sign > 0 else ask) * 100.0
                    cash -= received
                    payoff += received
                held = None
        wants = bool(legs) and (not policy.signal or bool(signal[d]))
        if held is None and wants and all(math.isfinite(o.strike[d]) for o in offers):
            strikes = [float(o.strike[d]) for o in offers]
            fills = []
            for i, leg in enumerate(legs):
                _, bid, ask = _mark(provider, leg.option_right == "C", strikes[i], int(offers[i].expiry_ord[d]), d)
                fills.append(ask if leg.sign > 0 else bid)
            full_cost = sum(leg.sign * full[i] * fills[i] * 100.0 for i, leg in enumerate(legs))
            scale = 1.0
            if policy.budget_cap is not None and full_cost > 0:
                spent = sum(paid for day, paid in purchases if day > today - 365)
                available = policy.budget_cap * scenario.shares * spot - spent
                if full_cost > available:
                    scale = max(available, 0.0) / full_cost
            contracts = [n if scale == 1.0 else math.floor(n * scale) for n in full]
            cost = sum(leg.sign * contracts[i] * fills[i] * 100.0 for i, leg in enumerate(legs))
            purchases.append((today, max(cost, 0.0)))
            cash += cost
            cost_total += cost
            cost_fraction += cost / (scenario.shares * spot)
            trades += any(n > 0 for n in contracts)
            held = {"strike": strikes, "contracts": contracts,
                    "expiry_ord": [int(o.expiry_ord[d]) for o in offers],
                    "expiry_idx": [int(o.expiry_idx[d]) for o in offers]}
        hedge = 0.0
        if held is not None:
            for i, leg in enumerate(legs):
                mid, _, _ = _mark(provider, leg.option_right == "C", held["strike"][i], held["expiry_ord"][i], d)
                hedge += leg.sign * held["contracts"][i] * mid * 100.0
        collateral = scenario.shares * spot
        ltv = loan / (collateral + hedge)
        if ltv >= scenario.margin_call_ltv and scenario.cure_target is not None:
            cured = scenario.cure_target * (collateral + hedge)
            cash += loan - cured
            loan = cured
        hedged_ltv.append(ltv)
        hedge_values.append(hedge)
        equity.append(collateral + hedge - loan - cash)
    return _summary(market, scenario, hedged_ltv, equity, hedge_values, cost_total, cost_fraction, payoff, trades)


def _summary(market, scenario: Scenario, ltv: list[float], equity: list[float], hedge: list[float],
             cost_total: float, cost_fraction: float, payoff: float, trades: int) -> dict[str, object]:
    best = max(range(len(ltv)), key=lambda i: (ltv[i], -i))
    breaches = [i for i, value in enumerate(ltv) if value >= scenario.margin_call_ltv]
    changes = [b - a for a, b in zip(equity, equity[1:])]
    peak, drawdown = equity[0], 0.0
    for value in equity:
        peak = max(peak, value)
        if peak > 0:
            drawdown = min(drawdown, value / peak - 1.0)
    gains = sum(c for c in changes if c > 0)
    losses = -sum(c for c in changes if c < 0)
    sharpe = None
    if len(changes) >= 2:
        mean = sum(changes) / len(changes)
        std = math.sqrt(sum((c - mean) ** 2 for c in changes) / (len(changes) - 1))
        sharpe = mean / std * math.sqrt(252.0) if std > 0 else None
    days = (market.day(scenario.last) - market.day(scenario.first)).days
    years = max(days / 365.25, 1 / 365.25)
    return {
        "hedged_ltv": ltv, "equity": equity, "hedge_value": hedge,
        "survived": not breaches, "max_ltv": ltv[best],
        "max_ltv_date": market.day(scenario.first + best),
        "first_breach_date": market.day(scenario.first + breaches[0]) if breaches else None,
        "final_equity": equity[-1], "hedge_cost_total": cost_total,
        "hedge_cost_annualised_pct": cost_fraction / years,
        "payoff_received": payoff, "sharpe": sharpe, "max_drawdown": drawdown,
        "win_rate": sum(c > 0 for c in changes) / len(changes) if changes else None,
        "profit_factor": gains / losses if losses > 0 else None, "trades": trades,
    }
