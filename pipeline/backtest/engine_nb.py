"""Backtest kernels: ALMA, the roll schedule, the daily replay and its summary (plain arrays only).

The frame layer (pipeline/backtest/engine.py) prices every held contract through a provider
before the replay, so these kernels never price an option: they read marks from flat arrays.
`pipeline/backtest/reference.py` restates the same rules as one obvious per-day Python loop.

Day indices refer to one market array (every GLD close since 2004); `a`..`b` is an event's path.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# How a holding ended (`schedule_nb`): settled at expiry, rolled (DTE <= roll_dte), closed because
# the trend signal switched off, or still held on the path's last day (marked, never sold).
END_EXPIRY, END_ROLL, END_SIGNAL, END_OPEN = 0, 1, 2, 3
SHARES_PER_CONTRACT = 100.0
BUDGET_WINDOW_DAYS = 365
# The replay's per-day outputs (rows of `paths`).
PATH_HEDGE, PATH_CASH, PATH_LOAN, PATH_UNHEDGED_LTV, PATH_HEDGED_LTV, PATH_EQUITY, PATH_BREACH = range(7)
PATH_ROWS = 7
# The replay's scalar outputs (`totals`).
TOTAL_COST, TOTAL_PAYOFF, TOTAL_TRADES, TOTAL_COST_FRACTION = range(4)
TOTALS_SIZE = 4
# `summarize_nb` outputs.
(SUM_MAX_LTV, SUM_MAX_LTV_DAY, SUM_FIRST_BREACH, SUM_FINAL_EQUITY, SUM_SHARPE, SUM_MAX_DRAWDOWN,
 SUM_WIN_RATE, SUM_PROFIT_FACTOR) = range(8)
SUMMARY_SIZE = 8
TRADING_DAYS_PER_YEAR = 252.0


@njit(cache=True)
def alma_nb(x: np.ndarray, window: int, offset: float, sigma: float) -> np.ndarray:
    """Arnaud Legoux moving average of `x`, trailing (NaN until `window` values exist).

    Weights w_i = exp(-(i - m)^2 / (2 s^2)), i = 0..window-1 (oldest first), m = offset (window - 1),
    s = window / sigma; ALMA_t = sum w_i x[t - window + 1 + i] / sum w_i.
    """
    out = np.full(x.size, np.nan)
    m = offset * (window - 1)
    s = window / sigma
    weights = np.empty(window)
    for i in range(window):
        weights[i] = math.exp(-((i - m) ** 2) / (2.0 * s * s))
    weights /= weights.sum()
    for t in range(window - 1, x.size):
        total = 0.0
        for i in range(window):
            total += weights[i] * x[t - window + 1 + i]
        out[t] = total
    return out


@njit(cache=True)
def schedule_nb(a: int, b: int, day_ord: np.ndarray, signal: np.ndarray, open_ok: np.ndarray,
                nearest_idx: np.ndarray, nearest_ord: np.ndarray, roll_dte: int,
                opens: np.ndarray, closes: np.ndarray, ends: np.ndarray) -> int:
    """Holdings of one policy on days a..b; returns their count k (opens/closes/ends[:k] filled).

    A holding opened on day d (its contracts: the provider's choice on d) ends on the first later
    day that reaches its nearest leg's expiry (END_EXPIRY), has DTE <= roll_dte (END_ROLL) or has the
    signal off (END_SIGNAL); a new one opens the same day if the signal is on and the provider has
    contracts (`open_ok`). The last holding may still be held on day b (END_OPEN).
    """
    k = 0
    held = False
    for d in range(a, b + 1):
        if held:
            end = -1
            if d >= nearest_idx[opens[k - 1]]:
                end = END_EXPIRY
            elif nearest_ord[opens[k - 1]] - day_ord[d] <= roll_dte:
                end = END_ROLL
            elif not signal[d]:
                end = END_SIGNAL
            if end >= 0:
                closes[k - 1] = d
                ends[k - 1] = end
                held = False
        if not held and signal[d] and open_ok[d]:
            opens[k] = d
            held = True
            k += 1
    if held:
        closes[k - 1] = b
        ends[k - 1] = END_OPEN
    return k


@njit(cache=True)
def simulate_nb(a: int, b: int, close: np.ndarray, day_ord: np.ndarray, shares: float, loan0: float,
                margin_call_ltv: float, cure_target: float, budget_cap: float,
                opens: np.ndarray, closes: np.ndarray, ends: np.ndarray, sign: np.ndarray,
                full_contracts: np.ndarray, mark_at: np.ndarray, mid: np.ndarray, bid: np.ndarray,
                ask: np.ndarray, paths: np.ndarray, totals: np.ndarray) -> None:
    """Replay one policy on days a..b; fill `paths` (PATH_ROWS x (b - a + 1)) and `totals`.

    Holding h's leg l is marked on day d at mid[mark_at[h, l] + d - opens[h]] (bid/ask alike).
    Long legs open at the ask and close at the bid, short legs the other way round; on the expiry
    day the provider's bid = ask = mid = intrinsic, so settlement is exact. `cure_target` NaN: no
    cure; else a breach pays the loan down to cure_target x (collateral + hedge). `budget_cap` NaN:
    none; else premium paid over the trailing 365 days stays within budget_cap x collateral value
    (an opening that would exceed it buys floor(contracts x share still affordable) per leg).
    """
    k = opens.size
    legs = sign.size
    held_contracts = np.zeros((k, legs))
    cost_day = np.zeros(k, dtype=np.int64)
    cost_paid = np.zeros(k)
    cash = 0.0
    loan = loan0
    cost_total = 0.0
    cost_fraction = 0.0  # sum of each opening's net premium / the collateral value that day
    payoff = 0.0
    trades = 0
    current = -1
    next_open = 0
    for d in range(a, b + 1):
        spot = close[d]
        if current >= 0 and closes[current] == d and ends[current] != END_OPEN:
            for leg in range(legs):
                j = mark_at[current, leg] + d - opens[current]
                price = bid[j] if sign[leg] > 0 else ask[j]
                flow = sign[leg] * held_contracts[current, leg] * price * SHARES_PER_CONTRACT
                cash -= flow
                payoff += flow
            current = -1
        if next_open < k and opens[next_open] == d:
            current = next_open
            next_open += 1
            full_cost = 0.0
            for leg in range(legs):
                j = mark_at[current, leg]
                price = ask[j] if sign[leg] > 0 else bid[j]
                full_cost += sign[leg] * full_contracts[leg] * price * SHARES_PER_CONTRACT
            scale = 1.0
            if not math.isnan(budget_cap) and full_cost > 0.0:
                spent = 0.0
                for h in range(current):
                    if day_ord[cost_day[h]] > day_ord[d] - BUDGET_WINDOW_DAYS:
                        spent += cost_paid[h]
                available = budget_cap * shares * spot - spent
                if full_cost > available:
                    scale = max(available, 0.0) / full_cost
            cost = 0.0
            bought = False
            for leg in range(legs):
                n = full_contracts[leg] if scale == 1.0 else math.floor(full_contracts[leg] * scale)
                held_contracts[current, leg] = n
                bought = bought or n > 0
                j = mark_at[current, leg]
                price = ask[j] if sign[leg] > 0 else bid[j]
                cost += sign[leg] * n * price * SHARES_PER_CONTRACT
            cost_day[current] = d
            cost_paid[current] = max(cost, 0.0)
            cash += cost
            cost_total += cost
            cost_fraction += cost / (shares * spot)
            if bought:
                trades += 1
        hedge = 0.0
        if current >= 0:
            for leg in range(legs):
                j = mark_at[current, leg] + d - opens[current]
                hedge += sign[leg] * held_contracts[current, leg] * mid[j] * SHARES_PER_CONTRACT
        collateral = shares * spot
        i = d - a
        paths[PATH_UNHEDGED_LTV, i] = loan / collateral
        hedged_ltv = loan / (collateral + hedge)
        breach = hedged_ltv >= margin_call_ltv
        if breach and not math.isnan(cure_target):
            cured = cure_target * (collateral + hedge)
            cash += loan - cured
            loan = cured
        paths[PATH_HEDGE, i] = hedge
        paths[PATH_CASH, i] = cash
        paths[PATH_LOAN, i] = loan
        paths[PATH_HEDGED_LTV, i] = hedged_ltv
        paths[PATH_EQUITY, i] = collateral + hedge - loan - cash
        paths[PATH_BREACH, i] = 1.0 if breach else 0.0
    totals[TOTAL_COST] = cost_total
    totals[TOTAL_PAYOFF] = payoff
    totals[TOTAL_TRADES] = trades
    totals[TOTAL_COST_FRACTION] = cost_fraction


@njit(cache=True)
def summarize_nb(hedged_ltv: np.ndarray, equity: np.ndarray, margin_call_ltv: float) -> np.ndarray:
    """Summary of one replayed path (SUM_* positions); day positions are offsets from its first day.

    Max LTV: the first day it is reached. Equity statistics use daily changes dE: Sharpe =
    mean(dE) / std(dE, ddof=1) x sqrt(252) (NaN when fewer than 2 changes or std 0); max drawdown =
    min(E / running max E - 1); win rate = share of changes > 0; profit factor = sum of gains /
    sum of losses (NaN without losses). NaN win rate / Sharpe on a one-day path.
    """
    out = np.full(SUMMARY_SIZE, np.nan)
    n = hedged_ltv.size
    best = 0
    first_breach = -1
    for i in range(n):
        if hedged_ltv[i] > hedged_ltv[best]:
            best = i
        if first_breach < 0 and hedged_ltv[i] >= margin_call_ltv:
            first_breach = i
    out[SUM_MAX_LTV] = hedged_ltv[best]
    out[SUM_MAX_LTV_DAY] = best
    out[SUM_FIRST_BREACH] = first_breach
    out[SUM_FINAL_EQUITY] = equity[n - 1]
    peak = equity[0]
    drawdown = 0.0
    gains = 0.0
    losses = 0.0
    wins = 0
    total = 0.0
    for i in range(n):
        peak = max(peak, equity[i])
        if peak > 0.0:
            drawdown = min(drawdown, equity[i] / peak - 1.0)
        if i > 0:
            change = equity[i] - equity[i - 1]
            total += change
            if change > 0.0:
                gains += change
                wins += 1
            elif change < 0.0:
                losses -= change
    out[SUM_MAX_DRAWDOWN] = drawdown
    changes = n - 1
    if changes >= 1:
        out[SUM_WIN_RATE] = wins / changes
    if losses > 0.0:
        out[SUM_PROFIT_FACTOR] = gains / losses
    if changes >= 2:
        mean = total / changes
        square = 0.0
        for i in range(1, n):
            square += (equity[i] - equity[i - 1] - mean) ** 2
        std = math.sqrt(square / (changes - 1))
        if std > 0.0:
            out[SUM_SHARPE] = mean / std * math.sqrt(TRADING_DAYS_PER_YEAR)
    return out


@njit(cache=True, parallel=True)
def sweep_group_nb(a: int, b: int, close: np.ndarray, day_ord: np.ndarray, shares: float, loan0: float,
                   margin_call_ltv: float, cure_target: float, budget_cap: float,
                   opens: np.ndarray, closes: np.ndarray, ends: np.ndarray, sign: np.ndarray,
                   contracts: np.ndarray, mark_at: np.ndarray, mid: np.ndarray, bid: np.ndarray,
                   ask: np.ndarray, out: np.ndarray) -> None:
    """Replay one schedule with each row of `contracts` (one per hedge ratio), in parallel.

    out[p] = (summary..., totals...): SUMMARY_SIZE + TOTALS_SIZE values per variant.
    """
    for p in prange(contracts.shape[0]):
        paths = np.empty((PATH_ROWS, b - a + 1))
        totals = np.empty(TOTALS_SIZE)
        simulate_nb(a, b, close, day_ord, shares, loan0, margin_call_ltv, cure_target, budget_cap,
                    opens, closes, ends, sign, contracts[p], mark_at, mid, bid, ask, paths, totals)
        summary = summarize_nb(paths[PATH_HEDGED_LTV], paths[PATH_EQUITY], margin_call_ltv)
        out[p, :SUMMARY_SIZE] = summary
        out[p, SUMMARY_SIZE:] = totals
