"""European Black-Scholes-Merton price and Greeks (QuantLib conventions).

Units: t in years, rate/q continuously compounded, theta per year (-dV/dt of
time to expiry, as QuantLib's AnalyticEuropeanEngine), vega per 1.00 vol, rho
per 1.00 rate (dividend curve held fixed).  The loop body is branch-free so LLVM
vectorises it; degenerate inputs are resolved with selects:

* t <= 0: intrinsic value, delta = step (+-0.5 at S == K), other Greeks 0.
* vol == 0, t > 0: deterministic forward limit; gamma 0 (NaN exactly at F == K),
  vega 0 (its finite limit S e^{-qt} sqrt(t)/sqrt(2 pi) exactly at F == K).
* vol < 0, NaN, or non-positive spot/strike: all outputs NaN.
"""

from __future__ import annotations

import math

from numba import njit, prange

from .special_nb import INV_SQRT_2PI, exp_nb, gauss_nb, log_nb, ncdf_from_gauss_nb


@njit(cache=True, error_model="numpy", inline="always")
def bs_scalar_nb(is_call, spot, strike, t, rate, q, vol):
    """Price, delta, gamma, theta, vega, rho of one European option."""
    nan = math.nan
    ok = (spot > 0.0) & (strike > 0.0) & (vol >= 0.0) & (t == t) & (rate == rate) & (q == q)
    live = (t > 0.0) & (vol > 0.0)
    ts = t if t > 0.0 else 1.0
    vs = vol if vol > 0.0 else 1.0
    sqrt_t = math.sqrt(ts)
    sd = vs * sqrt_t
    df_r = exp_nb(-rate * ts)
    df_q = exp_nb(-q * ts)
    log_fk = log_nb(spot / strike) + (rate - q) * ts
    d1 = log_fk / sd + 0.5 * sd
    d2 = d1 - sd
    sign = 1.0 if is_call else -1.0
    g1 = gauss_nb(d1)
    # phi(d2) = phi(d1) * F / K; reuse exp(-d^2/2) for both cdfs
    fk = exp_nb(log_fk)
    g2 = g1 * fk
    n1 = ncdf_from_gauss_nb(sign * d1, g1)
    n2 = ncdf_from_gauss_nb(sign * d2, g2)
    # deterministic-forward limits (vol == 0, t > 0) and expiry (t <= 0)
    fwd_step = 1.0 if sign * log_fk > 0.0 else 0.0
    fwd_step = 0.5 if log_fk == 0.0 else fwd_step
    spot_step = 1.0 if sign * (spot - strike) > 0.0 else 0.0
    spot_step = 0.5 if spot == strike else spot_step
    n1 = n1 if live else fwd_step
    n2 = n2 if live else fwd_step
    pdf1 = INV_SQRT_2PI * g1 if live else 0.0
    s_q = spot * df_q
    k_r = strike * df_r
    price = sign * (s_q * n1 - k_r * n2)
    delta = sign * df_q * n1
    gamma = df_q * pdf1 / (spot * sd)
    vega = s_q * pdf1 * sqrt_t
    theta = -s_q * pdf1 * vs / (2.0 * sqrt_t) + sign * (q * s_q * n1 - rate * k_r * n2)
    rho = sign * ts * k_r * n2
    price = price if price > 0.0 else 0.0
    # vol == 0 exactly at the forward: gamma undefined, vega has a finite limit
    atm_flat = (~live) & (log_fk == 0.0)
    gamma = nan if atm_flat else gamma
    vega = s_q * sqrt_t * INV_SQRT_2PI if atm_flat else vega
    # expiry
    expired = t <= 0.0
    intrinsic = sign * (spot - strike)
    price = (intrinsic if intrinsic > 0.0 else 0.0) if expired else price
    delta = sign * spot_step if expired else delta
    gamma = 0.0 if expired else gamma
    theta = 0.0 if expired else theta
    vega = 0.0 if expired else vega
    rho = 0.0 if expired else rho
    return (
        price if ok else nan,
        delta if ok else nan,
        gamma if ok else nan,
        theta if ok else nan,
        vega if ok else nan,
        rho if ok else nan,
    )


@njit(cache=True, error_model="numpy")
def bs_scalar_call_nb(is_call, spot, strike, t, rate, q, vol):
    """bs_scalar_nb compiled once as a callable (for scalar callers; keeps compile time down)."""
    return bs_scalar_nb(is_call, spot, strike, t, rate, q, vol)


@njit(cache=True, error_model="numpy", parallel=True)
def bs_greeks_nb(is_call, spot, strike, t, rate, q, vol, out):
    """Fill out[0..5, i] with price, delta, gamma, theta, vega, rho (1-D contiguous inputs)."""
    for i in prange(spot.shape[0]):
        p, de, ga, th, ve, rh = bs_scalar_nb(is_call[i], spot[i], strike[i], t[i], rate[i], q[i], vol[i])
        out[0, i] = p
        out[1, i] = de
        out[2, i] = ga
        out[3, i] = th
        out[4, i] = ve
        out[5, i] = rh


@njit(cache=True, error_model="numpy", parallel=True)
def bs_price_nb(is_call, spot, strike, t, rate, q, vol, out):
    """Price only (used by the implied-vol tests and the American kernels' European part)."""
    for i in prange(spot.shape[0]):
        out[i] = bs_scalar_nb(is_call[i], spot[i], strike[i], t[i], rate[i], q[i], vol[i])[0]
