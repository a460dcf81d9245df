"""Public pricing API: thin, frame-free wrappers that broadcast inputs and call Numba kernels.

All inputs are float64 arrays or scalars that broadcast together (``is_call``
is boolean).  Units follow QuantLib: t in years (ACT/365 year fractions),
rate and q continuously compounded, theta per year (calendar), vega per 1.00
of vol, rho per 1.00 of rate.  Outputs have the broadcast shape.

Degenerate inputs (documented in docs/pricing.md):
* t <= 0: price = intrinsic, delta = step (+-1, +-0.5 at S == K), other Greeks 0.
* vol == 0, t > 0: deterministic-forward limit (no NaN); vol < 0, NaN, or
  non-positive spot/strike: NaN.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .american_nb import american_greeks_nb
from .american_scheme import american_scheme
from .bsm_nb import bs_greeks_nb
from .iv_american_nb import implied_vol_american_nb
from .iv_nb import implied_vol_european_nb

GLD_EXPENSE_RATIO_Q = 0.004
"""Default continuous carry yield q for GLD (the trust's 0.40% expense ratio)."""

class IVReason(IntEnum):
    """Why ``implied_vol`` returned what it did (stored as int8)."""

    OK = 0  # vol solved; reprices the quote
    BELOW_INTRINSIC = 1  # quote below the no-arbitrage lower bound (intrinsic / discounted forward intrinsic)
    ABOVE_UPPER_BOUND = 2  # quote at/above the upper bound (call: S e^{-qt}; put: K e^{-rt}; American: S or K)
    NO_TIME_VALUE = 3  # quote equals the lower bound within 1e-14 max(F, K): vol not identifiable
    EXPIRED = 4  # t <= 0
    BAD_INPUT = 5  # NaN/inf anywhere, or spot, strike or price <= 0


class Greeks(NamedTuple):
    """Price and sensitivities, each a float64 array of the broadcast shape."""

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    theta: np.ndarray
    vega: np.ndarray
    rho: np.ndarray


def _flatten(is_call: ArrayLike, *values: ArrayLike) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """Broadcast the inputs; return the shape and contiguous 1-D arrays (bool first, then float64)."""
    arrays = np.broadcast_arrays(np.asarray(is_call, dtype=np.bool_), *(np.asarray(v, dtype=np.float64) for v in values))
    shape = arrays[0].shape
    flat = [np.ascontiguousarray(a).reshape(-1) for a in arrays]
    return shape, flat


def _greeks_from(out: np.ndarray, shape: tuple[int, ...]) -> Greeks:
    return Greeks(*(out[k].reshape(shape) for k in range(6)))


def bs_greeks(
    is_call: ArrayLike, spot: ArrayLike, strike: ArrayLike, t: ArrayLike, rate: ArrayLike, q: ArrayLike, vol: ArrayLike
) -> Greeks:
    """European Black-Scholes-Merton price and Greeks (QuantLib AnalyticEuropeanEngine conventions)."""
    shape, (c, s, k, tt, r, qq, v) = _flatten(is_call, spot, strike, t, rate, q, vol)
    out = np.empty((6, s.size))
    bs_greeks_nb(c, s, k, tt, r, qq, v, out)
    return _greeks_from(out, shape)


def american_greeks(
    is_call: ArrayLike, spot: ArrayLike, strike: ArrayLike, t: ArrayLike, rate: ArrayLike, q: ArrayLike, vol: ArrayLike
) -> Greeks:
    """American price and Greeks (ALO collocation solved by Newton; see docs/pricing.md for the method)."""
    shape, (c, s, k, tt, r, qq, v) = _flatten(is_call, spot, strike, t, rate, q, vol)
    out = np.empty((6, s.size))
    american_greeks_nb(c, s, k, tt, r, qq, v, american_scheme(), True, out)
    return _greeks_from(out, shape)


def american_price(
    is_call: ArrayLike, spot: ArrayLike, strike: ArrayLike, t: ArrayLike, rate: ArrayLike, q: ArrayLike, vol: ArrayLike
) -> np.ndarray:
    """American price only (skips the Greeks' extra pass over the quadrature points)."""
    shape, (c, s, k, tt, r, qq, v) = _flatten(is_call, spot, strike, t, rate, q, vol)
    out = np.empty((6, s.size))
    american_greeks_nb(c, s, k, tt, r, qq, v, american_scheme(), False, out)
    return out[0].reshape(shape)


def implied_vol(
    price: ArrayLike,
    is_call: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    q: ArrayLike,
    american: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Implied vol and an int8 ``IVReason`` per quote; NaN vol unless reason is OK. Never raises on data."""
    shape, (c, p, s, k, tt, r, qq) = _flatten(is_call, price, spot, strike, t, rate, q)
    vol = np.empty(s.size)
    reason = np.empty(s.size, dtype=np.int8)
    if american:
        implied_vol_american_nb(p, c, s, k, tt, r, qq, american_scheme(), vol, reason, np.empty(s.size, np.int64))
    else:
        implied_vol_european_nb(p, c, s, k, tt, r, qq, vol, reason)
    return vol.reshape(shape), reason.reshape(shape)
