"""American implied volatility on the block kernel: one state machine per quote, priced LANES at a time.

Each quote runs the search described in docs/pricing.md (premium-model iteration from
the European implied vol, then bracketing fallbacks).  It needs an American price at one
trial vol per round; a round prices the trials of all quotes still searching in blocks
of the kernel, then advances each quote's state.  Reason codes match
``pipeline.pricing.api.IVReason``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .american_nb import (
    LANES,
    NODES,
    as_put_nb,
    block_chunks_nb,
    block_work_nb,
    lane_boundary_nb,
    lane_converged_nb,
    lane_value_nb,
    load_lane_nb,
    put_block_nb,
    special_case_nb,
    warm_lane_nb,
)
from .bsm_nb import bs_scalar_call_nb
from .iv_nb import (
    ABOVE_UPPER_BOUND,
    BAD_INPUT,
    BELOW_INTRINSIC,
    EXPIRED,
    MAX_ITER,
    NO_TIME_VALUE,
    OK,
    TIME_VALUE_TOL,
    implied_vol_european_scalar_nb,
)

AMERICAN_MODEL_STEPS = 8  # American prices of the premium-model iteration before the bracketing fallback
AMERICAN_STEP_TOL = 1e-6  # its last vol step (relative) below this: converged (the error left is ~1e-10)
HERMITE_STEP_TOL = 1e-5  # at most this after a step on the quadratic premium (the first price's vega)
HERMITE_ERROR = 1e-10  # and at most this over its points' squared distance (error left ~2e-10, _advance_nb)
ILLINOIS_STEP_TOL = 1e-10  # regula falsi's next trial this close (relative) to the last: converged
LOWER_SEARCH_STEPS = 60  # European-vega steps down looking for a lower bracket
SEARCH_UP_LIMIT = 1e3  # quotes above the European upper bound: vols doubled up to this
WARM_MOVE_LIMIT = 1e-2  # a boundary predicted to move more than this (in ln B) starts from QD instead

# stages of a quote's search: what its trial vol is for (_EMPTY: finished, _PENDING: not begun)
_EMPTY, _SEARCH_UP, _AT_EUROPEAN, _MODEL, _LOWER, _ILLINOIS, _PENDING = range(7)
# per-quote state rows
_TRIAL, _HI, _FHI, _LO, _FLO, _VA, _PREMA, _DPREMA, _STEPS, _SIDE, _FROM_EU, _V_E = range(12)
_STATE_ROWS = 12


@njit(cache=True, error_model="numpy")
def _european_plus_linear_root_nb(is_call, spot, strike, t, rate, q, target, slope, v0, lo, hi):
    """Root in (lo, hi) of E(v) + slope * v = target (E the European price), by Newton from v0.

    NaN when a step leaves the bracket or the slope E' + slope is not positive:
    the caller then falls back to its bracketing search.
    """
    v = v0
    for _ in range(30):
        res = bs_scalar_call_nb(is_call, spot, strike, t, rate, q, v)
        d = res[4] + slope
        if not d > 0.0:
            return math.nan
        dv = (res[0] + slope * v - target) / d
        v -= dv
        if not (v > lo and v < hi):
            return math.nan
        if abs(dv) <= 1e-15 * v:
            break
    return v


@njit(cache=True, error_model="numpy")
def american_iv_setup_nb(price, is_call, spot, strike, t, rate, q):
    """(settled, vol, code, v_european, european_code) before any American price is needed.

    Settles bad inputs, expiry, the no-early-exercise regime (American = European) and
    quotes outside the American bounds; otherwise the search starts from the European vol.
    """
    v_e, code = implied_vol_european_scalar_nb(price, is_call, spot, strike, t, rate, q)
    if code == BAD_INPUT or code == EXPIRED:
        return True, math.nan, code, v_e, code
    put_r, put_q = as_put_nb(is_call, spot, strike, rate, q)[2:]
    if put_r <= 0.0 and put_q >= put_r:  # no early exercise: American = European
        return True, v_e, code, v_e, code
    intrinsic = max(spot - strike, 0.0) if is_call else max(strike - spot, 0.0)
    upper = spot if is_call else strike
    tol = TIME_VALUE_TOL * max(spot, strike)
    if price < intrinsic - tol:
        return True, math.nan, BELOW_INTRINSIC, v_e, code
    if price >= upper - tol:
        return True, math.nan, ABOVE_UPPER_BOUND, v_e, code
    if price <= intrinsic + tol:
        return True, math.nan, NO_TIME_VALUE, v_e, code
    if code == BELOW_INTRINSIC or code == NO_TIME_VALUE:
        # below (or at) the European lower bound, hence below every American price
        return True, math.nan, code, v_e, code
    return False, math.nan, code, v_e, code


@njit(cache=True, error_model="numpy")
def _begin_nb(st, w, v_e, european_code):
    """First trial of a new quote: the European vol (an upper bracket, A >= E), or an upward search."""
    st[_V_E, w] = v_e
    if european_code == OK:
        st[_TRIAL, w] = v_e
        st[_FROM_EU, w] = 1.0
        return _AT_EUROPEAN
    st[_TRIAL, w] = 1.0  # above the European upper bound: double from 1 until A >= quote
    st[_FROM_EU, w] = 0.0
    return _SEARCH_UP


@njit(cache=True, error_model="numpy")
def _lower_trial_nb(st, w, is_call, spot, strike, t, rate, q):
    """A trial below hi: a Newton step with the European vega, at least 0.1% and at most 75% down."""
    hi = st[_HI, w]
    vega = bs_scalar_call_nb(is_call, spot, strike, t, rate, q, hi)[4]
    step = st[_FHI, w] / vega if vega > 0.0 else 0.5 * hi
    lo = hi - max(step, 1e-3 * hi)
    st[_TRIAL, w] = lo if lo > 0.25 * hi else 0.25 * hi


@njit(cache=True, error_model="numpy")
def _regula_falsi_trial_nb(st, w):
    lo, hi, f_lo, f_hi = st[_LO, w], st[_HI, w], st[_FLO, w], st[_FHI, w]
    mid = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
    st[_TRIAL, w] = mid if (mid > lo and mid < hi) else 0.5 * (lo + hi)


@njit(cache=True, error_model="numpy")
def _lower_search_nb(st, w, is_call, spot, strike, t, rate, q):
    """Bracketing fallback: find a lower bracket (European-vega steps down), then Illinois regula falsi.

    Returns (stage, vol, code); stage _EMPTY when it is decided without another American price.
    """
    if not st[_FLO, w] <= 0.0:
        st[_LO, w] = st[_HI, w]
        st[_FLO, w] = st[_FHI, w]
    if st[_FLO, w] > 0.0:
        st[_STEPS, w] = 0.0
        _lower_trial_nb(st, w, is_call, spot, strike, t, rate, q)
        return _LOWER, math.nan, OK
    if st[_FLO, w] == 0.0:
        return _EMPTY, st[_LO, w], OK
    st[_SIDE, w] = 0.0
    st[_STEPS, w] = 0.0
    _regula_falsi_trial_nb(st, w)
    return _ILLINOIS, math.nan, OK


@njit(cache=True, error_model="numpy")
def _advance_nb(st, stage, w, f, vega, price, is_call, spot, strike, t, rate, q, tol):
    """Feed f = American(trial) - quote and the American vega there (NaN if not priced) to lane w's
    search; return (stage, vol, code).

    stage _EMPTY: finished with (vol, code).  Otherwise st[_TRIAL, w] holds the next trial.
    """
    v = st[_TRIAL, w]
    if stage == _SEARCH_UP and f < 0.0:
        if v < SEARCH_UP_LIMIT:
            st[_TRIAL, w] = 2.0 * v
            return _SEARCH_UP, math.nan, OK
        return _EMPTY, math.nan, ABOVE_UPPER_BOUND
    if stage == _SEARCH_UP or stage == _AT_EUROPEAN:
        st[_HI, w] = v
        st[_FHI, w] = f
        if f <= 0.0:
            # the American price at this vol is the quote: no premium (a negative f is rounding, A >= E)
            return _EMPTY, v, OK
        st[_LO, w] = 0.0
        st[_FLO, w] = math.nan
        if st[_FROM_EU, w] > 0.0:
            # premium model: the premium at the European vol is f (E(v) is the quote) and its
            # slope the American vega less the European one; the next point solves
            # E(v') + f + slope (v' - v) = quote.  Without the vega (or if that root fails)
            # the premium is taken as constant, E(v') = quote - f.
            vega_e = bs_scalar_call_nb(is_call, spot, strike, t, rate, q, v)[4]
            slope = vega - vega_e
            v_b = math.nan
            if slope == slope:
                v_b = _european_plus_linear_root_nb(is_call, spot, strike, t, rate, q, price - f + slope * v, slope,
                                                    max(v - f / vega, 0.5 * v), 0.0, v)
            if v_b != v_b:
                v_b = _european_plus_linear_root_nb(is_call, spot, strike, t, rate, q, price - f, 0.0,
                                                    max(v - f / vega_e, 0.5 * v), 0.0, v)
            if v_b == v_b:
                st[_VA, w] = v
                st[_PREMA, w] = f
                st[_DPREMA, w] = slope
                st[_STEPS, w] = 0.0
                st[_TRIAL, w] = v_b
                return _MODEL, math.nan, OK
        return _lower_search_nb(st, w, is_call, spot, strike, t, rate, q)
    if stage == _MODEL:
        # A(v) = E(v) + premium(v), E exact and cheap, the premium small and slowly varying: each
        # American price gives a premium point; the next vol solves E(v) + (premium linear through
        # the last two points) = quote.  Superlinear with a small constant (only the premium's curvature).
        # The first step here knows the premium's slope at the first point as well (below).
        if f == 0.0:
            return _EMPTY, v, OK
        if f < 0.0:
            st[_LO, w] = v
            st[_FLO, w] = f
        else:
            st[_HI, w] = v
            st[_FHI, w] = f
        prem_b = f + price - bs_scalar_call_nb(is_call, spot, strike, t, rate, q, v)[0]
        slope = (prem_b - st[_PREMA, w]) / (v - st[_VA, w])
        tol_step = AMERICAN_STEP_TOL
        if st[_DPREMA, w] == st[_DPREMA, w]:
            # the last point's slope is known (the first price's vega): the slope here of the
            # quadratic through both points with that slope at the last.  Its error after a step
            # s is ~c s d^2 (d the two points' relative distance, c <= 2.2 measured), so it may
            # stop on a step of up to HERMITE_ERROR / d^2 (within [AMERICAN_STEP_TOL, HERMITE_STEP_TOL])
            slope = 2.0 * slope - st[_DPREMA, w]
            d = (v - st[_VA, w]) / v
            tol_step = max(AMERICAN_STEP_TOL, min(HERMITE_STEP_TOL, HERMITE_ERROR / (d * d)))
        v_new = _european_plus_linear_root_nb(is_call, spot, strike, t, rate, q, price - prem_b + slope * v,
                                              slope, v, st[_LO, w], st[_HI, w])
        steps = st[_STEPS, w] + 1.0
        if v_new == v_new:
            if abs(v_new - v) <= tol_step * v_new:
                return _EMPTY, v_new, OK
            if steps < AMERICAN_MODEL_STEPS:
                st[_VA, w] = v
                st[_PREMA, w] = prem_b
                st[_DPREMA, w] = math.nan
                st[_STEPS, w] = steps
                st[_TRIAL, w] = v_new
                return _MODEL, math.nan, OK
        return _lower_search_nb(st, w, is_call, spot, strike, t, rate, q)
    if stage == _LOWER:
        st[_LO, w] = v
        st[_FLO, w] = f
        if f <= 0.0:
            if f == 0.0:
                return _EMPTY, v, OK
            st[_SIDE, w] = 0.0
            st[_STEPS, w] = 0.0
            _regula_falsi_trial_nb(st, w)
            return _ILLINOIS, math.nan, OK
        st[_HI, w] = v
        st[_FHI, w] = f
        st[_STEPS, w] += 1.0
        if v < 1e-6 or st[_STEPS, w] >= LOWER_SEARCH_STEPS:
            return _EMPTY, math.nan, (BELOW_INTRINSIC if f > tol else NO_TIME_VALUE)
        _lower_trial_nb(st, w, is_call, spot, strike, t, rate, q)
        return _LOWER, math.nan, OK
    # _ILLINOIS: regula falsi on [lo, hi], halving the stale end's value on repeated sides
    if f == 0.0:
        return _EMPTY, v, OK
    side = st[_SIDE, w]
    if f < 0.0:
        st[_LO, w] = v
        st[_FLO, w] = f
        if side == -1.0:
            st[_FHI, w] *= 0.5
        st[_SIDE, w] = -1.0
    else:
        st[_HI, w] = v
        st[_FHI, w] = f
        if side == 1.0:
            st[_FLO, w] *= 0.5
        st[_SIDE, w] = 1.0
    st[_STEPS, w] += 1.0
    lo, hi, f_lo, f_hi = st[_LO, w], st[_HI, w], st[_FLO, w], st[_FHI, w]
    if hi - lo <= 4e-15 * hi or st[_STEPS, w] >= MAX_ITER:
        return _EMPTY, (lo * f_hi - hi * f_lo) / (f_hi - f_lo), OK
    _regula_falsi_trial_nb(st, w)
    if abs(st[_TRIAL, w] - v) <= ILLINOIS_STEP_TOL * v:
        # the root to within the price's rounding: near it f is that rounding, and the
        # bracket would only shrink from one side, one American price per round
        return _EMPTY, st[_TRIAL, w], OK
    return _ILLINOIS, math.nan, OK


@njit(cache=True, error_model="numpy", parallel=True)
def implied_vol_american_nb(price, is_call, spot, strike, t, rate, q, sch, vol_out, reason_out, prices_out):
    """American implied vol for 1-D contiguous inputs; fills vol_out, reason_out (int8) and prices_out
    (American prices each quote's search asked for, diagnostics).

    Round by round: every quote still searching asks for the American price at its
    trial vol; the trials are priced in blocks of LANES (compacted, so lanes idle only in
    the last block of a round), then each quote's search advances.  The first round
    starts Newton from QD and the table and also takes each boundary's vol derivative
    (and with it the American vega, the premium model's first slope); later rounds start
    from the quote's previous boundary moved along that derivative, which is within ~1e-5
    of the new one (the vol moves by ~1e-2 and then ~1e-4 relative),
    so Newton needs fewer steps and no QD start.
    """
    n = price.shape[0]
    v_eu = np.empty(n)
    eu_code = np.empty(n, dtype=np.int8)
    stage = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        settled, v, code, v_e, e_code = american_iv_setup_nb(price[i], is_call[i], spot[i], strike[i], t[i],
                                                            rate[i], q[i])
        vol_out[i] = v
        reason_out[i] = code
        prices_out[i] = 0
        v_eu[i] = v_e
        eu_code[i] = e_code
        stage[i] = _EMPTY if settled else _PENDING
    idx = np.flatnonzero(stage == _PENDING)
    m = idx.shape[0]
    st = np.empty((_STATE_ROWS, n))
    for j in range(m):
        o = idx[j]
        stage[o] = _begin_nb(st, o, v_eu[o], eu_code[o])
    y_prev = np.empty((n, NODES))
    dy_prev = np.zeros((n, NODES))
    v_prev = np.zeros(n)
    warm = np.zeros(n, dtype=np.bool_)
    first_round = True
    while True:
        # trials that american_price settles without a boundary (exercised, negligible premium, tree)
        for j in prange(m):
            o = idx[j]
            while stage[o] != _EMPTY:
                handled, a = special_case_nb(is_call[o], spot[o], strike[o], t[o], rate[o], q[o], st[_TRIAL, o],
                                             False)[:2]
                if not handled:
                    break
                stage[o] = _feed_nb(st, stage, o, a, math.nan, price, is_call, spot, strike, t, rate, q, vol_out,
                                    reason_out, prices_out)
        live = np.empty(m, dtype=np.bool_)
        for j in range(m):
            live[j] = stage[idx[j]] != _EMPTY
        idx = idx[live]
        m = idx.shape[0]
        if m == 0:
            break
        # blocks share their Newton steps: put quotes whose boundary barely moves (a step or two
        # from the previous one) together, then those that moved more, then cold starts
        moves = np.empty(m)
        for j in range(m):
            o = idx[j]
            move = 0.0
            for i in range(NODES):
                move = max(move, abs(dy_prev[o, i] * (st[_TRIAL, o] - v_prev[o])))
            usable = warm[o] and move <= WARM_MOVE_LIMIT
            moves[j] = move if usable else math.inf
            warm[o] = usable
        idx = idx[np.argsort(moves, kind="mergesort")]
        nblocks = (m + LANES - 1) // LANES
        nchunks, first = block_chunks_nb()
        for c in prange(nchunks):
            if first[c] >= nblocks:
                continue
            wk = block_work_nb()
            start = np.empty(NODES)
            for b in range(first[c], nblocks, nchunks):
                for w in range(LANES):
                    o = idx[min(b * LANES + w, m - 1)]
                    trial = st[_TRIAL, o]
                    load_lane_nb(wk, w, is_call[o], spot[o], strike[o], t[o], rate[o], q[o], trial)
                    if warm[o]:
                        for i in range(NODES):
                            start[i] = y_prev[o, i] + dy_prev[o, i] * (trial - v_prev[o])
                        warm_lane_nb(wk, w, start)
                put_block_nb(sch, wk, first_round)
                for w in range(min(LANES, m - b * LANES)):
                    o = idx[b * LANES + w]
                    trial = st[_TRIAL, o]
                    converged = lane_converged_nb(wk, w)
                    # the vega where the first round's Greeks give it (a failed lane's tree would
                    # need ten more trees for it)
                    with_vega = first_round and converged
                    res = lane_value_nb(wk, w, is_call[o], spot[o], strike[o], t[o], rate[o], q[o], trial, with_vega)
                    if converged:
                        lane_boundary_nb(wk, w, y_prev[o], dy_prev[o], first_round)
                        v_prev[o] = trial
                        warm[o] = True
                    stage[o] = _feed_nb(st, stage, o, res[0], res[4] if with_vega else math.nan, price, is_call, spot,
                                        strike, t, rate, q, vol_out, reason_out, prices_out)
        first_round = False


@njit(cache=True, error_model="numpy")
def _feed_nb(st, stage, o, american, vega, price, is_call, spot, strike, t, rate, q, vol_out, reason_out, prices_out):
    """Advance quote o's search with the American price (and vega, or NaN) at its trial; write the result
    when it finishes."""
    prices_out[o] += 1
    tol = TIME_VALUE_TOL * max(spot[o], strike[o])
    new_stage, v, code = _advance_nb(st, stage[o], o, american - price[o], vega, price[o], is_call[o], spot[o],
                                     strike[o], t[o], rate[o], q[o], tol)
    if new_stage == _EMPTY:
        vol_out[o] = v
        reason_out[o] = code
    return new_stage
