"""Slow, obviously-correct reference pricers (tests) and vectorised NumPy/SciPy baselines (benchmarks).

Per-option functions use ``scipy.stats.norm`` and textbook formulas; the
``*_numpy`` functions are the vectorised NumPy/SciPy implementations the
Numba kernels are benchmarked against.  Nothing here is used in production.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special
from scipy.stats import norm


def bs_greeks_ref(is_call: bool, spot: float, strike: float, t: float, rate: float, q: float, vol: float) -> tuple[float, ...]:
    """(price, delta, gamma, theta, vega, rho) of one European option, textbook BSM (t > 0, vol > 0)."""
    sqrt_t = math.sqrt(t)
    d1 = (math.log(spot / strike) + (rate - q + 0.5 * vol * vol) * t) / (vol * sqrt_t)
    d2 = d1 - vol * sqrt_t
    df_r, df_q = math.exp(-rate * t), math.exp(-q * t)
    pdf = norm.pdf(d1)
    gamma = df_q * pdf / (spot * vol * sqrt_t)
    vega = spot * df_q * pdf * sqrt_t
    decay = -spot * df_q * pdf * vol / (2.0 * sqrt_t)
    if is_call:
        price = spot * df_q * norm.cdf(d1) - strike * df_r * norm.cdf(d2)
        delta = df_q * norm.cdf(d1)
        theta = decay + q * spot * df_q * norm.cdf(d1) - rate * strike * df_r * norm.cdf(d2)
        rho = strike * t * df_r * norm.cdf(d2)
    else:
        price = strike * df_r * norm.cdf(-d2) - spot * df_q * norm.cdf(-d1)
        delta = -df_q * norm.cdf(-d1)
        theta = decay - q * spot * df_q * norm.cdf(-d1) + rate * strike * df_r * norm.cdf(-d2)
        rho = -strike * t * df_r * norm.cdf(-d2)
    return price, delta, gamma, theta, vega, rho


def american_price_ref(is_call: bool, spot: float, strike: float, t: float, rate: float, q: float, vol: float,
                       steps: int = 2000) -> float:
    """American price by a CRR tree whose last step is Black-Scholes, Richardson-extrapolated (2 V_N - V_N/2).

    Works in every rate/carry regime (including the double-boundary put with q < r < 0).
    """

    def tree(n: int) -> float:
        dt = t / n
        up = math.exp(vol * math.sqrt(dt))
        p_up = (math.exp((rate - q) * dt) - 1.0 / up) / (up - 1.0 / up)
        disc = math.exp(-rate * dt)
        sign = 1.0 if is_call else -1.0
        nodes = spot * up ** (2.0 * np.arange(n) - (n - 1))
        sd = vol * math.sqrt(dt)
        d1 = (np.log(nodes / strike) + (rate - q) * dt) / sd + 0.5 * sd
        euro = sign * (nodes * math.exp(-q * dt) * norm.cdf(sign * d1) - strike * disc * norm.cdf(sign * (d1 - sd)))
        values = np.maximum(euro, sign * (nodes - strike))
        for m in range(n - 2, -1, -1):
            nodes = spot * up ** (2.0 * np.arange(m + 1) - m)
            values = np.maximum(disc * (p_up * values[1:] + (1.0 - p_up) * values[:-1]), sign * (nodes - strike))
        return float(values[0])

    return 2.0 * tree(steps) - tree(steps // 2)


def implied_vol_ref(price: float, is_call: bool, spot: float, strike: float, t: float, rate: float, q: float) -> float:
    """European implied vol by Brent's method on the textbook price; NaN when no root in [1e-6, 20]."""

    def f(v: float) -> float:
        return bs_greeks_ref(is_call, spot, strike, t, rate, q, v)[0] - price

    try:
        return optimize.brentq(f, 1e-6, 20.0, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    except ValueError:
        return math.nan


# ---- vectorised NumPy/SciPy baselines (benchmarks) -------------------------------------------


def bs_greeks_numpy(is_call, spot, strike, t, rate, q, vol) -> tuple[np.ndarray, ...]:
    """Vectorised BSM price and five Greeks with numpy + scipy.special.ndtr."""
    sign = np.where(is_call, 1.0, -1.0)
    sqrt_t = np.sqrt(t)
    sd = vol * sqrt_t
    d1 = (np.log(spot / strike) + (rate - q) * t) / sd + 0.5 * sd
    d2 = d1 - sd
    df_r, df_q = np.exp(-rate * t), np.exp(-q * t)
    pdf = np.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi)
    n1, n2 = special.ndtr(sign * d1), special.ndtr(sign * d2)
    price = sign * (spot * df_q * n1 - strike * df_r * n2)
    delta = sign * df_q * n1
    gamma = df_q * pdf / (spot * sd)
    vega = spot * df_q * pdf * sqrt_t
    theta = -spot * df_q * pdf * vol / (2.0 * sqrt_t) + sign * (q * spot * df_q * n1 - rate * strike * df_r * n2)
    rho = sign * strike * t * df_r * n2
    return price, delta, gamma, theta, vega, rho


def implied_vol_numpy(price, is_call, spot, strike, t, rate, q, iterations: int = 60) -> np.ndarray:
    """Vectorised European IV: Newton steps safeguarded by a bisection bracket, fixed iteration count."""
    lo = np.full(np.shape(price), 1e-6)
    hi = np.full(np.shape(price), 20.0)
    vol = np.full(np.shape(price), 0.3)
    for _ in range(iterations):
        p, _, _, _, vega, _ = bs_greeks_numpy(is_call, spot, strike, t, rate, q, vol)
        diff = p - price
        hi = np.where(diff > 0.0, vol, hi)
        lo = np.where(diff <= 0.0, vol, lo)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = vol - diff / vega
        vol = np.where((newton > lo) & (newton < hi), newton, 0.5 * (lo + hi))
    return vol


def american_price_numpy(is_call, spot, strike, t, rate, q, vol, steps: int = 200) -> np.ndarray:
    """Vectorised (across options) CRR American tree with a Black-Scholes last step."""
    is_call, spot, strike, t, rate, q, vol = np.broadcast_arrays(is_call, spot, strike, t, rate, q, vol)
    sign = np.where(is_call, 1.0, -1.0)[:, None]
    dt = (t / steps)[:, None]
    up = np.exp(vol[:, None] * np.sqrt(dt))
    p_up = (np.exp((rate - q)[:, None] * dt) - 1.0 / up) / (up - 1.0 / up)
    disc = np.exp(-rate[:, None] * dt)
    s0, k = spot[:, None], strike[:, None]
    nodes = s0 * up ** (2.0 * np.arange(steps) - (steps - 1))
    euro = bs_greeks_numpy(is_call[:, None], nodes, k, dt, rate[:, None], q[:, None], vol[:, None])[0]
    values = np.maximum(euro, sign * (nodes - k))
    for m in range(steps - 2, -1, -1):
        nodes = s0 * up ** (2.0 * np.arange(m + 1) - m)
        values = np.maximum(disc * (p_up * values[:, 1:] + (1.0 - p_up) * values[:, :-1]), sign * (nodes - k))
    return values[:, 0]


def random_option_set(n: int, seed: int) -> dict[str, np.ndarray]:
    """The issue's seeded random set: S=100, K 20..300, t 1 day..3 years (whole days / 365),
    vol 3%..150%, r 0..8%, q -2%..5%; shared by the tests and the benchmark."""
    rng = np.random.default_rng(seed)
    return {
        "is_call": rng.random(n) < 0.5,
        "spot": np.full(n, 100.0),
        "strike": rng.uniform(20.0, 300.0, n),
        "t": rng.integers(1, 1096, n) / 365.0,
        "rate": rng.uniform(0.0, 0.08, n),
        "q": rng.uniform(-0.02, 0.05, n),
        "vol": rng.uniform(0.03, 1.5, n),
    }
