"""American option kernels: Andersen-Lake-Offengeim (ALO) fixed-point boundary.

Every option is mapped to a put by put-call symmetry
C(S, K, r, q, vol) = P(K, S, q, r, vol).  For the put (rate r, carry q):

* r <= 0 and q >= r: early exercise is never optimal, American = European.
* r > 0: single exercise boundary B(tau), solved with ALO's fixed point
  FP-B on Chebyshev nodes in sqrt(tau) (interpolating H = ln(B/X)^2,
  X = K min(1, r/q)), started from the QD (Barone-Adesi-Whaley/Li) boundary.
  Integrals use Gauss-Legendre after splitting [0, tau] in halves with
  u = w^2 / (tau - u) = v^2 substitutions, which remove the sqrt endpoint
  behaviour at both ends.  Price = European + early-exercise premium integral.
* r <= 0 and q < r ("double boundary"): binomial tree with Black-Scholes last
  step and two-point Richardson extrapolation (slow fallback, rare).

Delta and gamma are differentiated analytically through the premium integral
(the boundary does not depend on spot), theta comes from the Black-Scholes PDE
would follow from the PDE but is taken as a central difference in t like vega
and rho (boundary recomputed each time), so all Greeks are consistent with the
discretised price itself (the PDE identity holds for the exact price only and
is off by up to ~4e-3 per year near the boundary).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .bsm_nb import bs_scalar_call_nb
from .special_nb import INV_SQRT_2PI, exp_nb, gauss_nb, ncdf_from_gauss_nb, ncdf_nb

VOL_BUMP = 1e-5
RATE_BUMP = 1e-5
TIME_BUMP = 1e-5
FP_B_CONVERGED = 1e-5  # last FP-B step in ln B above this: treat as unstable, redo with FP-A
FP_A_ITERATIONS = 16


@njit(cache=True, error_model="numpy")
def _d_plus_minus(log_ratio: float, s: float, r: float, q: float, vol: float):
    """d+ and d- of ln(ratio) over remaining time s > 0."""
    sd = vol * math.sqrt(s)
    d1 = (log_ratio + (r - q) * s) / sd + 0.5 * sd
    return d1, d1 - sd


@njit(cache=True, error_model="numpy")
def _euro_put_nb(spot, strike, t, r, q, vol):
    """European put price, delta, gamma."""
    p, de, ga, _, _, _ = bs_scalar_call_nb(False, spot, strike, t, r, q, vol)
    return p, de, ga


@njit(cache=True, error_model="numpy")
def _qd_boundary_nb(strike, tau, r, q, vol, x_limit):
    """QD (Barone-Adesi-Whaley form) put boundary at time to expiry tau, used as the start."""
    h = 1.0 - math.exp(-r * tau)
    omega = 2.0 * (r - q) / (vol * vol)
    lam = 0.5 * (-(omega - 1.0) - math.sqrt((omega - 1.0) ** 2 + 8.0 * r / (vol * vol * h)))
    b = x_limit
    lo = 1e-6 * x_limit
    for _ in range(12):
        p, de, ga = _euro_put_nb(b, strike, tau, r, q, vol)
        f = b * (1.0 + de) + lam * (strike - b - p)
        fp = (1.0 + de) * (1.0 - lam) + b * ga
        step = f / fp if fp > 0.0 else 0.0
        b_new = b - step
        b_new = min(max(b_new, 0.5 * b if b_new < b else b_new), x_limit)
        b_new = max(b_new, lo)
        if abs(b_new - b) <= 1e-7 * b:  # only a starting guess for the fixed point
            b = b_new
            break
        b = b_new
    return b


@njit(cache=True, error_model="numpy")
def _log_boundary_at(z, log_x, coef):
    """ln B at Chebyshev argument z = 2 sqrt(u/T) - 1 from the series of H = ln(B/X)^2."""
    n = coef.shape[0] - 1
    b1 = 0.0
    b2 = 0.0
    for k in range(n, 0, -1):
        b0 = 2.0 * z * b1 - b2 + coef[k]
        b2 = b1
        b1 = b0
    h = z * b1 - b2 + 0.5 * coef[0]
    h = h if h > 0.0 else 0.0
    return log_x - math.sqrt(h)


@njit(cache=True, error_model="numpy")
def _chebyshev_coefficients(values, coef, cos_table):
    """Coefficients a_k of sum' a_k T_k (first halved) interpolating values at z_i = -cos(i pi / n).

    cos_table[j] = cos(j pi / n), j < 2n.  The last coefficient is pre-halved
    so evaluation is a plain Clenshaw sum.
    """
    n = values.shape[0] - 1
    two_n = 2 * n
    for k in range(n + 1):
        acc = 0.5 * (values[0] * cos_table[(k * n) % two_n] + values[n])
        for i in range(1, n):
            acc += values[i] * cos_table[(k * (n - i)) % two_n]
        coef[k] = 2.0 * acc / n
    coef[n] *= 0.5


@njit(cache=True, error_model="numpy")
def put_boundary_nb(strike, t_max, r, q, vol, n_nodes, n_iter, glx, glw, coef, use_fp_a):
    """Chebyshev series of H = ln(B/X)^2 of the put boundary (r > 0) into coef; return (ln X, last change).

    use_fp_a selects ALO's FP-A equation (value matching: slower but stable)
    instead of FP-B (smooth pasting form: fast, but it can oscillate for low
    vol and long maturities).  The returned change is the largest |d ln B| of
    the last iteration, used by the caller to detect non-convergence.

    Jacobi fixed-point iteration of ALO's FP-B on the Chebyshev nodes; all
    node/quadrature geometry (times, discount factors, weights) is tabulated
    once so an iteration costs one Clenshaw sum, two exps and one normal cdf
    per quadrature point.
    """
    x_limit = strike * min(1.0, r / q) if q > 0.0 else strike
    log_x = math.log(x_limit)
    log_k = math.log(strike)
    sqrt_t = math.sqrt(t_max)
    m = glx.shape[0]
    npts = 2 * m
    taus = np.empty(n_nodes + 1)
    logb = np.empty(n_nodes + 1)
    hvals = np.empty(n_nodes + 1)
    # tabulated geometry per (node, quadrature point)
    zq = np.empty((n_nodes + 1, npts))
    sdq = np.empty((n_nodes + 1, npts))
    driftq = np.empty((n_nodes + 1, npts))
    wnq = np.empty((n_nodes + 1, npts))
    wnaq = np.empty((n_nodes + 1, npts))
    wd1q = np.empty((n_nodes + 1, npts))
    wd2q = np.empty((n_nodes + 1, npts))
    for i in range(n_nodes + 1):
        zc = -math.cos(i * math.pi / n_nodes)
        tau = t_max * 0.25 * (1.0 + zc) ** 2
        taus[i] = tau
        logb[i] = log_x if i == 0 else math.log(_qd_boundary_nb(strike, tau, r, q, vol, x_limit))
        hvals[i] = (logb[i] - log_x) ** 2
        if i == 0:
            continue  # tau = 0: the boundary is X there, nothing to integrate
        half = math.sqrt(0.5 * tau)
        for k in range(m):
            y = 0.5 * half * (1.0 + glx[k])
            wk = 0.5 * half * glw[k] * 2.0 * y
            for part in range(2):
                j = 2 * k + part
                if part == 0:  # u = y^2
                    u = y * y
                    s = tau - u
                else:  # tau - u = y^2
                    s = y * y
                    u = tau - s
                sd = vol * math.sqrt(s)
                zq[i, j] = 2.0 * math.sqrt(u) / sqrt_t - 1.0
                sdq[i, j] = sd
                driftq[i, j] = (r - q) * s
                e_qu = exp_nb(q * u)
                wnaq[i, j] = wk * r * exp_nb(r * u)
                wnq[i, j] = wnaq[i, j] * INV_SQRT_2PI / sd
                wd1q[i, j] = wk * q * e_qu * INV_SQRT_2PI / sd
                wd2q[i, j] = wk * q * e_qu
    cos_table = np.empty(2 * n_nodes)
    for j in range(2 * n_nodes):
        cos_table[j] = math.cos(j * math.pi / n_nodes)
    _chebyshev_coefficients(hvals, coef, cos_table)
    b1 = np.empty(npts)
    b2 = np.empty(npts)
    contrib_n = np.empty(npts)
    contrib_d = np.empty(npts)
    change = 0.0
    for _ in range(n_iter):
        change = 0.0
        for i in range(1, n_nodes + 1):
            tau = taus[i]
            lb = logb[i]
            sd_tau = vol * math.sqrt(tau)
            d1, d2 = _d_plus_minus(lb - log_k, tau, r, q, vol)
            if use_fp_a:
                num = ncdf_nb(d2)
                den = ncdf_nb(d1)
            else:
                num = INV_SQRT_2PI * gauss_nb(d2) / sd_tau
                den = INV_SQRT_2PI * gauss_nb(d1) / sd_tau + ncdf_nb(d1)
            # Clenshaw for all quadrature points at once (inner loop vectorises over points)
            zrow = zq[i]
            for j in range(npts):
                b1[j] = 0.0
                b2[j] = 0.0
            for k in range(n_nodes, 0, -1):
                ck = coef[k]
                for j in range(npts):
                    b0 = 2.0 * zrow[j] * b1[j] - b2[j] + ck
                    b2[j] = b1[j]
                    b1[j] = b0
            c0 = 0.5 * coef[0]
            sdrow = sdq[i]
            driftrow = driftq[i]
            wnrow = wnq[i]
            wnarow = wnaq[i]
            wd1row = wd1q[i]
            wd2row = wd2q[i]
            for j in range(npts):
                h = zrow[j] * b1[j] - b2[j] + c0
                h = h if h > 0.0 else 0.0
                log_ratio = lb - log_x + math.sqrt(h) + driftrow[j]
                sd = sdrow[j]
                e1 = log_ratio / sd + 0.5 * sd
                g1 = gauss_nb(e1)
                g2 = g1 * exp_nb(log_ratio)
                n1 = ncdf_from_gauss_nb(e1, g1)
                if use_fp_a:
                    contrib_n[j] = wnarow[j] * ncdf_from_gauss_nb(e1 - sd, g2)
                    contrib_d[j] = wd2row[j] * n1
                else:
                    contrib_n[j] = wnrow[j] * g2
                    contrib_d[j] = wd1row[j] * g1 + wd2row[j] * n1
            for j in range(npts):
                num += contrib_n[j]
                den += contrib_d[j]
            lb_new = log_k - (r - q) * tau + math.log(num / den)
            lb_new = min(lb_new, log_x)
            change = max(change, abs(lb_new - lb)) if lb_new == lb_new else math.inf
            logb[i] = lb_new
        for i in range(n_nodes + 1):
            hvals[i] = (logb[i] - log_x) ** 2
        _chebyshev_coefficients(hvals, coef, cos_table)
    return log_x, change


@njit(cache=True, error_model="numpy")
def put_premium_nb(spot, strike, t, r, q, vol, log_x, coef, glx, glw):
    """Early-exercise premium of the put and its spot delta and gamma (boundary fixed)."""
    sqrt_t = math.sqrt(t)
    half = math.sqrt(0.5 * t)
    log_s = math.log(spot)
    prem = 0.0
    dprem = 0.0
    gprem = 0.0
    for k in range(glx.shape[0]):
        y = 0.5 * half * (1.0 + glx[k])
        w = 0.5 * half * glw[k] * 2.0 * y
        for part in range(2):
            if part == 0:  # boundary time u = y^2, remaining s = t - u
                u = y * y
                s = t - u
            else:  # remaining s = y^2
                s = y * y
                u = t - s
            log_b = _log_boundary_at(2.0 * math.sqrt(u) / sqrt_t - 1.0, log_x, coef)
            bu = exp_nb(log_b)
            sd = vol * math.sqrt(s)
            d1, d2 = _d_plus_minus(log_s - log_b, s, r, q, vol)
            g1 = gauss_nb(d1)
            g2 = gauss_nb(d2)
            df_r = exp_nb(-r * s)
            df_q = exp_nb(-q * s)
            pdf2 = INV_SQRT_2PI * g2
            n1 = ncdf_from_gauss_nb(-d1, g1)
            f = r * strike * df_r * ncdf_from_gauss_nb(-d2, g2) - q * spot * df_q * n1
            a = df_r * pdf2 * (q * bu - r * strike) / (spot * sd)
            df = a - q * df_q * n1
            gf = -a / spot * (d2 / sd + 1.0) + q * bu * df_r * pdf2 / (spot * spot * sd)
            prem += w * f
            dprem += w * df
            gprem += w * gf
    return prem, dprem, gprem


@njit(cache=True, error_model="numpy")
def _tree_put_nb(spot, strike, t, r, q, vol, steps):
    """Binomial (CRR) put with a Black-Scholes last step; any r, q (double boundary included)."""
    dt = t / steps
    up = math.exp(vol * math.sqrt(dt))
    down = 1.0 / up
    growth = math.exp((r - q) * dt)
    pu = (growth - down) / (up - down)
    disc = math.exp(-r * dt)
    values = np.empty(steps)
    for j in range(steps):
        node = spot * up ** (2 * j - (steps - 1))
        euro = _euro_put_nb(node, strike, dt, r, q, vol)[0]
        values[j] = max(euro, strike - node)
    for n in range(steps - 2, -1, -1):
        for j in range(n + 1):
            node = spot * up ** (2 * j - n)
            cont = disc * (pu * values[j + 1] + (1.0 - pu) * values[j])
            values[j] = max(cont, strike - node)
    return values[0]


@njit(cache=True, error_model="numpy")
def tree_put_price_nb(spot, strike, t, r, q, vol):
    """Richardson-extrapolated binomial put (2 V_2N - V_N), N = 1000."""
    return 2.0 * _tree_put_nb(spot, strike, t, r, q, vol, 2000) - _tree_put_nb(spot, strike, t, r, q, vol, 1000)


@njit(cache=True, error_model="numpy")
def american_put_scalar_nb(spot, strike, t, r, q, vol, n_nodes, n_iter, glx_fp, glw_fp, glx_pr, glw_pr, with_greeks):
    """Put price, delta, gamma, theta at (spot, strike, t, r, q, vol); regime chosen inside."""
    euro_p, euro_d, euro_g, euro_th, _, _ = bs_scalar_call_nb(False, spot, strike, t, r, q, vol)
    if not (t > 0.0 and vol > 0.0) or (r <= 0.0 and q >= r):
        return euro_p, euro_d, euro_g, euro_th
    if r <= 0.0:
        price = tree_put_price_nb(spot, strike, t, r, q, vol)
        if not with_greeks:
            return price, math.nan, math.nan, math.nan
        h = 1e-3 * spot
        up = tree_put_price_nb(spot + h, strike, t, r, q, vol)
        dn = tree_put_price_nb(spot - h, strike, t, r, q, vol)
        delta = (up - dn) / (2.0 * h)
        gamma = (up - 2.0 * price + dn) / (h * h)
        theta = r * price - (r - q) * spot * delta - 0.5 * vol * vol * spot * spot * gamma
        return price, delta, gamma, theta
    coef = np.empty(n_nodes + 1)
    log_x, change = put_boundary_nb(strike, t, r, q, vol, n_nodes, n_iter, glx_fp, glw_fp, coef, False)
    if not change <= FP_B_CONVERGED:
        log_x, change = put_boundary_nb(strike, t, r, q, vol, n_nodes, FP_A_ITERATIONS, glx_fp, glw_fp, coef, True)
    if math.log(spot) <= _log_boundary_at(1.0, log_x, coef):
        return strike - spot, -1.0, 0.0, 0.0
    prem, dprem, gprem = put_premium_nb(spot, strike, t, r, q, vol, log_x, coef, glx_pr, glw_pr)
    price = euro_p + prem
    delta = euro_d + dprem
    gamma = euro_g + gprem
    theta = r * price - (r - q) * spot * delta - 0.5 * vol * vol * spot * spot * gamma
    price = max(price, strike - spot)
    return price, delta, gamma, theta


@njit(cache=True, error_model="numpy")
def american_scalar_nb(is_call, spot, strike, t, r, q, vol, n_nodes, n_iter, glx_fp, glw_fp, glx_pr, glw_pr, with_greeks):
    """Price, delta, gamma, theta of one American option via put-call symmetry."""
    if is_call:
        # C(S, K, r, q) = P(K, S, q, r): spot derivatives via the homogeneity V = K f(S/K)
        p, d_k, g_k, th = american_put_scalar_nb(strike, spot, t, q, r, vol, n_nodes, n_iter,
                                                 glx_fp, glw_fp, glx_pr, glw_pr, with_greeks)
        # P(K', S') with K' = strike as "spot", S' = spot as "strike": dC/dS = (C - K' dP/dK')/S
        delta = (p - strike * d_k) / spot
        gamma = strike * strike * g_k / (spot * spot)
        return p, delta, gamma, th
    return american_put_scalar_nb(spot, strike, t, r, q, vol, n_nodes, n_iter,
                                  glx_fp, glw_fp, glx_pr, glw_pr, with_greeks)


@njit(cache=True, error_model="numpy")
def american_one_nb(is_call, spot, strike, t, r, q, vol, n_nodes, n_iter, glx_fp, glw_fp, glx_pr, glw_pr, with_greeks):
    """(price, delta, gamma, theta, vega, rho) with input validation and degenerate cases."""
    nan = math.nan
    if not (spot > 0.0 and strike > 0.0 and vol >= 0.0 and math.isfinite(spot) and math.isfinite(strike)
            and math.isfinite(r) and math.isfinite(q) and math.isfinite(vol) and t == t):
        return nan, nan, nan, nan, nan, nan
    put_r = q if is_call else r
    put_q = r if is_call else q
    if put_r <= 0.0 and put_q >= put_r:
        # early exercise never optimal: the European price and Greeks are exact
        return bs_scalar_call_nb(is_call, spot, strike, t, r, q, vol)
    if t <= 0.0 or vol == 0.0:
        # expiry: intrinsic; zero vol: deterministic path, handled by the European limit
        # (early exercise of a deterministic path is not modelled; documented)
        euro = bs_scalar_call_nb(is_call, spot, strike, t, r, q, vol)
        intrinsic = max(spot - strike, 0.0) if is_call else max(strike - spot, 0.0)
        return max(euro[0], intrinsic), euro[1], euro[2], euro[3], euro[4], euro[5]
    scheme = (n_nodes, n_iter, glx_fp, glw_fp, glx_pr, glw_pr, False)
    p, de, ga, _ = american_scalar_nb(is_call, spot, strike, t, r, q, vol, n_nodes, n_iter,
                                      glx_fp, glw_fp, glx_pr, glw_pr, with_greeks)
    if not with_greeks:
        return p, nan, nan, nan, nan, nan
    hv = min(VOL_BUMP, 0.5 * vol)
    ht = min(TIME_BUMP, 0.5 * t)
    v_up = american_scalar_nb(is_call, spot, strike, t, r, q, vol + hv, *scheme)[0]
    v_dn = american_scalar_nb(is_call, spot, strike, t, r, q, vol - hv, *scheme)[0]
    r_up = american_scalar_nb(is_call, spot, strike, t, r + RATE_BUMP, q, vol, *scheme)[0]
    r_dn = american_scalar_nb(is_call, spot, strike, t, r - RATE_BUMP, q, vol, *scheme)[0]
    t_up = american_scalar_nb(is_call, spot, strike, t + ht, r, q, vol, *scheme)[0]
    t_dn = american_scalar_nb(is_call, spot, strike, t - ht, r, q, vol, *scheme)[0]
    theta = -(t_up - t_dn) / (2.0 * ht)
    return p, de, ga, theta, (v_up - v_dn) / (2.0 * hv), (r_up - r_dn) / (2.0 * RATE_BUMP)


@njit(cache=True, error_model="numpy", parallel=True)
def american_greeks_nb(is_call, spot, strike, t, rate, q, vol, n_nodes, n_iter, glx_fp, glw_fp, glx_pr, glw_pr,
                       with_greeks, out):
    """Fill out[0..5, i] with American price, delta, gamma, theta, vega, rho (1-D inputs)."""
    for i in prange(spot.shape[0]):
        res = american_one_nb(is_call[i], spot[i], strike[i], t[i], rate[i], q[i], vol[i], n_nodes, n_iter,
                              glx_fp, glw_fp, glx_pr, glw_pr, with_greeks)
        for k in range(6):
            out[k, i] = res[k]
