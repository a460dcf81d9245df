"""Monte Carlo margin-call kernels: counter-based draws, the block bootstrap, grid pricing, first breaches.

Plain arrays in and out, no global state. Randomness is a hash of (seed, path, step, stream)
(splitmix64's finaliser applied three times), so path p's draws depend only on (seed, p): results
do not depend on the number of threads or on the order in which paths run.

Hedges are priced from a precomputed grid (built by pipeline/backtest/montecarlo.py with the
American kernel and the skew model) of the normalised time value

    g(d, sqrt t, atm_vol, rate) = (price - intrinsic) / (spot * atm_vol * sqrt t),
    d = ln(K / S) / (atm_vol * sqrt t)   (the skew model's standardised moneyness),

interpolated multilinearly (16 corners). Price = intrinsic + S atm_vol sqrt(t) g, exact intrinsic
at t <= 0. `values` has shape (2 rights: put, call; rate; vol; sqrt t; d). The rate and vol nodes
are given as arrays (any spacing: they are looked up once per step, for all legs, and the rate axis
needs dense nodes just above 0, where American early exercise sets in); sqrt t and d are uniform,
`axes` = (first sqrt t node, spacing, first d node, spacing), looked up per leg.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from pipeline.portfolio.positions import DAYS_PER_YEAR
from pipeline.pricing.skew import TRADING_DAYS_PER_YEAR

CALENDAR_DAYS_PER_STEP = DAYS_PER_YEAR / TRADING_DAYS_PER_YEAR  # a step is one trading day
STREAM_RESTART, STREAM_INDEX = 0, 1

_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2^-53


@njit(cache=True, inline="always")
def splitmix64_nb(x: np.uint64) -> np.uint64:
    """splitmix64's output function of x + golden gamma: a bijective 64-bit mix."""
    z = x + _GOLDEN_GAMMA
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def uniform_nb(seed: int, path: int, step: int, stream: int) -> float:
    """A uniform draw in [0, 1) that depends only on (seed, path, step, stream)."""
    h = splitmix64_nb(np.uint64(seed))
    h = splitmix64_nb(h ^ np.uint64(path))
    h = splitmix64_nb(h ^ ((np.uint64(step) << np.uint64(1)) | np.uint64(stream)))
    return float(h >> np.uint64(11)) * _TO_UNIT


@njit(cache=True)
def next_source_nb(previous: int, seed: int, path: int, step: int, n_source: int, restart_prob: float) -> int:
    """Stationary block bootstrap (Politis & Romano 1994): the source index of `step` (1-based) of `path`.

    Step 1, and any later step with probability restart_prob, starts a block at a uniform index;
    otherwise the block advances by one, wrapping from the last index to the first.
    """
    if step == 1 or uniform_nb(seed, path, step, STREAM_RESTART) < restart_prob:
        return min(int(uniform_nb(seed, path, step, STREAM_INDEX) * n_source), n_source - 1)
    following = previous + 1
    return 0 if following == n_source else following


@njit(cache=True, parallel=True)
def bootstrap_indices_nb(n_source: int, paths: int, steps: int, seed: int, restart_prob: float) -> np.ndarray:
    """The source indices the simulation draws: (paths, steps), column k - 1 for step k."""
    out = np.empty((paths, steps), dtype=np.int64)
    for p in prange(paths):
        j = 0
        for k in range(1, steps + 1):
            j = next_source_nb(j, seed, p, k, n_source, restart_prob)
            out[p, k - 1] = j
    return out


@njit(cache=True, inline="always")
def _axis_nb(value: float, first: float, spacing: float, nodes: int) -> tuple[int, float]:
    """Lower node index and weight of the upper node; clamped to the axis ends."""
    pos = (value - first) / spacing
    if pos <= 0.0:
        return 0, 0.0
    if pos >= nodes - 1:
        return nodes - 2, 1.0
    i = int(pos)
    return i, pos - i


@njit(cache=True, inline="always")
def _nodes_nb(value: float, nodes: np.ndarray) -> tuple[int, float]:
    """Lower node index and weight of the upper node on increasing `nodes`; clamped to the ends."""
    n = nodes.size
    if value <= nodes[0]:
        return 0, 0.0
    if value >= nodes[n - 1]:
        return n - 2, 1.0
    lo, hi = 0, n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if nodes[mid] <= value:
            lo = mid
        else:
            hi = mid
    return lo, (value - nodes[lo]) / (nodes[lo + 1] - nodes[lo])


@njit(cache=True)
def market_weights_nb(vol: float, rate: float, rate_nodes: np.ndarray,
                      vol_nodes: np.ndarray) -> tuple[int, float, int, float]:
    """Grid position of a day's (rate, vol): shared by every leg priced on that day."""
    ir, wr = _nodes_nb(rate, rate_nodes)
    iv, wv = _nodes_nb(vol, vol_nodes)
    return ir, wr, iv, wv


@njit(cache=True)
def grid_price_nb(is_call: bool, spot: float, strike: float, t: float, vol: float,
                  ir: int, wr: float, iv: int, wv: float, values: np.ndarray, axes: np.ndarray) -> float:
    """Per-share American price from the grid; (ir, wr, iv, wv) from `market_weights_nb` for `vol`."""
    intrinsic = max(spot - strike, 0.0) if is_call else max(strike - spot, 0.0)
    if t <= 0.0:
        return intrinsic
    sqrt_t = math.sqrt(t)
    scale = vol * sqrt_t
    it, wt = _axis_nb(sqrt_t, axes[0], axes[1], values.shape[3])
    i_d, wd = _axis_nb(math.log(strike / spot) / scale, axes[2], axes[3], values.shape[4])
    c = 1 if is_call else 0
    g = 0.0
    for a in range(2):
        w_a = wr if a else 1.0 - wr
        for b in range(2):
            w_ab = w_a * (wv if b else 1.0 - wv)
            for e in range(2):
                w_abe = w_ab * (wt if e else 1.0 - wt)
                row = values[c, ir + a, iv + b, it + e]
                g += w_abe * ((1.0 - wd) * row[i_d] + wd * row[i_d + 1])
    return intrinsic + spot * scale * g


@njit(cache=True, parallel=True)
def grid_prices_nb(is_call: np.ndarray, spot: np.ndarray, strike: np.ndarray, t: np.ndarray, vol: np.ndarray,
                   rate: np.ndarray, rate_nodes: np.ndarray, vol_nodes: np.ndarray, values: np.ndarray,
                   axes: np.ndarray) -> np.ndarray:
    """`grid_price_nb` over arrays (to measure the grid against the American kernel)."""
    out = np.empty(spot.size)
    for n in prange(spot.size):
        ir, wr, iv, wv = market_weights_nb(vol[n], rate[n], rate_nodes, vol_nodes)
        out[n] = grid_price_nb(is_call[n], spot[n], strike[n], t[n], vol[n], ir, wr, iv, wv, values, axes)
    return out


@njit(cache=True)
def _hedge_value_nb(first: int, last: int, held_days: float, spot: float, vol: float, ir: int, wr: float,
                    iv: int, wv: float, strikes: np.ndarray, leg_is_call: np.ndarray, leg_units: np.ndarray,
                    leg_tenor_days: np.ndarray, values: np.ndarray, axes: np.ndarray) -> float:
    """Value of legs first..last-1 held for `held_days` calendar days (units signed: short < 0)."""
    total = 0.0
    for leg in range(first, last):
        t = (leg_tenor_days[leg] - held_days) / DAYS_PER_YEAR
        total += leg_units[leg] * grid_price_nb(leg_is_call[leg], spot, strikes[leg], t, vol, ir, wr, iv, wv,
                                                values, axes)
    return total


@njit(cache=True, parallel=True)
def first_breach_nb(log_returns: np.ndarray, vols: np.ndarray, rates: np.ndarray, start_vol: float,
                    start_rate: float, spot0: float, shares: float, collateral_floor: float, steps: int,
                    paths: int, seed: int, restart_prob: float, leg_start: np.ndarray, leg_is_call: np.ndarray,
                    leg_moneyness: np.ndarray, leg_units: np.ndarray, leg_tenor_days: np.ndarray,
                    roll_dte_days: np.ndarray, nonnegative: np.ndarray, rate_nodes: np.ndarray,
                    vol_nodes: np.ndarray, values: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """First breach step per path and policy: (paths, 1 + templates) int32, column 0 unhedged.

    Step 0 is the start close (start_vol, start_rate); steps 1..`steps` draw source days of
    (log_returns, vols, rates) by `next_source_nb`. A policy breaches when collateral + hedge value
    <= collateral_floor (= loan / margin-call LTV, i.e. LTV >= the call); `steps + 1` = never.
    Template i owns legs leg_start[i]..leg_start[i+1]-1 (units = signed share-equivalents), bought
    at step 0 struck at moneyness x spot and rolled (all legs re-struck at the close) once the
    nearest leg has <= roll_dte_days[i] calendar days left; a roll step is tested with the legs
    held into the close and with the new ones. Templates whose value cannot be negative
    (`nonnegative`: long-only, or each short leg covered by a long one) are priced only on steps
    where the unhedged collateral is at or below the floor: elsewhere they cannot breach.
    """
    n_templates = roll_dte_days.size
    n_source = log_returns.size
    never = steps + 1
    out = np.full((paths, 1 + n_templates), never, dtype=np.int32)
    nearest_tenor = np.empty(n_templates)
    for i in range(n_templates):
        nearest_tenor[i] = leg_tenor_days[leg_start[i]:leg_start[i + 1]].min()
    for p in prange(paths):
        strikes = leg_moneyness * spot0
        bought = np.zeros(n_templates, dtype=np.int64)
        alive = 1 + n_templates
        ir, wr, iv, wv = market_weights_nb(start_vol, start_rate, rate_nodes, vol_nodes)
        collateral = shares * spot0
        if collateral <= collateral_floor:
            out[p, 0] = 0
            alive -= 1
        for i in range(n_templates):
            hedge = _hedge_value_nb(leg_start[i], leg_start[i + 1], 0.0, spot0, start_vol, ir, wr, iv, wv,
                                    strikes, leg_is_call, leg_units, leg_tenor_days, values, axes)
            if collateral + hedge <= collateral_floor:
                out[p, 1 + i] = 0
                alive -= 1
        log_spot = math.log(spot0)
        j = 0
        for k in range(1, steps + 1):
            if alive == 0:
                break
            j = next_source_nb(j, seed, p, k, n_source, restart_prob)
            log_spot += log_returns[j]
            spot = math.exp(log_spot)
            vol = vols[j]
            ir, wr, iv, wv = market_weights_nb(vol, rates[j], rate_nodes, vol_nodes)
            collateral = shares * spot
            exposed = collateral <= collateral_floor
            if exposed and out[p, 0] == never:
                out[p, 0] = k
                alive -= 1
            for i in range(n_templates):
                if out[p, 1 + i] != never:
                    continue
                first, last = leg_start[i], leg_start[i + 1]
                held_days = (k - bought[i]) * CALENDAR_DAYS_PER_STEP
                priced = exposed or not nonnegative[i]
                breached = priced and collateral + _hedge_value_nb(
                    first, last, held_days, spot, vol, ir, wr, iv, wv, strikes, leg_is_call, leg_units,
                    leg_tenor_days, values, axes) <= collateral_floor
                if nearest_tenor[i] - held_days <= roll_dte_days[i]:
                    for leg in range(first, last):
                        strikes[leg] = leg_moneyness[leg] * spot
                    bought[i] = k
                    breached = breached or (priced and collateral + _hedge_value_nb(
                        first, last, 0.0, spot, vol, ir, wr, iv, wv, strikes, leg_is_call, leg_units,
                        leg_tenor_days, values, axes) <= collateral_floor)
                if breached:
                    out[p, 1 + i] = k
                    alive -= 1
    return out
