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
(the boundary does not depend on spot).  Vega and the two rhos (d/dr, d/dq)
are forward-mode tangents carried through the whole discretised computation
(QD start by implicit differentiation, every FP-B iteration, the premium
integral), so one boundary solve gives exact derivatives of the discretised
price.  All nodes and quadrature points scale with T, so the discretised price
depends on (r T, q T, vol^2 T) only and calendar theta follows exactly:
theta = -(r dV/dr + q dV/dq + vol/2 dV/dvol) / T.  (The Black-Scholes PDE
identity holds for the exact price only and is off by up to ~4e-3 per year
near the boundary, because the quadrature gamma is least accurate there, so
it is not used.)  Where FP-B does not converge (FP-A fallback) or the tree is
used, theta/vega/rho are central differences of the full price instead.
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
def _qd_boundary_nb(strike, tau, r, q, vol, x_limit, b_start):
    """QD (Barone-Adesi-Whaley form) put boundary at time to expiry tau, used as the start.

    Newton on b (1 + delta) + lambda (K - b - p) = 0 from b_start (the previous,
    shorter-dated node's root: the boundary falls with tau, so few steps are
    needed); the European put is evaluated inline with this node's discount factors.
    """
    df_r = math.exp(-r * tau)
    df_q = math.exp(-q * tau)
    sd = vol * math.sqrt(tau)
    drift = (r - q) * tau
    h = 1.0 - df_r
    omega = 2.0 * (r - q) / (vol * vol)
    lam = 0.5 * (-(omega - 1.0) - math.sqrt((omega - 1.0) ** 2 + 8.0 * r / (vol * vol * h)))
    b = b_start
    lo = 1e-6 * x_limit
    k_r = strike * df_r
    for _ in range(12):
        d1 = (math.log(b / strike) + drift) / sd + 0.5 * sd
        g1 = gauss_nb(d1)
        g2 = g1 * (b * df_q) / k_r  # exp(-d2^2/2) = exp(-d1^2/2) F/K
        n1 = ncdf_from_gauss_nb(-d1, g1)
        de = -df_q * n1
        p = k_r * ncdf_from_gauss_nb(sd - d1, g2) - b * df_q * n1
        ga = df_q * INV_SQRT_2PI * g1 / (b * sd)
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


@njit(cache=True, error_model="numpy", inline="always")
def _split_point_nb(tau, half, x, w, part):
    """(u, s = tau - u, weight) of Gauss-Legendre node (x, w) on one half of [0, tau], half = sqrt(tau/2).

    part 0 maps the boundary end (u = y^2), part 1 the other end (tau - u = y^2);
    both substitutions remove a square-root endpoint behaviour.
    """
    y = 0.5 * half * (1.0 + x)
    weight = 0.5 * half * w * 2.0 * y
    if part == 0:
        u = y * y
        return u, tau - u, weight
    s = y * y
    return tau - s, s, weight


@njit(cache=True, error_model="numpy", inline="always")
def _chebyshev_sum_nb(z, coef):
    """Clenshaw sum of a Chebyshev series, first coefficient halved: c0/2 + sum c_k T_k(z)."""
    b1 = 0.0
    b2 = 0.0
    for k in range(coef.shape[0] - 1, 0, -1):
        b0 = 2.0 * z * b1 - b2 + coef[k]
        b2 = b1
        b1 = b0
    return z * b1 - b2 + 0.5 * coef[0]


@njit(cache=True, error_model="numpy")
def _log_boundary_at(z, log_x, coef):
    """ln B at Chebyshev argument z = 2 sqrt(u/T) - 1 from the series of H = ln(B/X)^2."""
    h = _chebyshev_sum_nb(z, coef)
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
        logb[i] = log_x if i == 0 else math.log(_qd_boundary_nb(strike, tau, r, q, vol, x_limit,
                                                                 math.exp(logb[i - 1])))
        hvals[i] = (logb[i] - log_x) ** 2
        if i == 0:
            continue  # tau = 0: the boundary is X there, nothing to integrate
        half = math.sqrt(0.5 * tau)
        for k in range(m):
            for part in range(2):
                j = 2 * k + part
                u, s, wk = _split_point_nb(tau, half, glx[k], glw[k], part)
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


@njit(cache=True, error_model="numpy", inline="always")
def _premium_point_nb(spot, strike, log_s, log_b, s, r, q, vol):
    """Premium integrand f and its spot derivatives at remaining time s, plus the pieces the tangents reuse."""
    bu = exp_nb(log_b)
    sd = vol * math.sqrt(s)
    d1, d2 = _d_plus_minus(log_s - log_b, s, r, q, vol)
    g1 = gauss_nb(d1)
    g2 = gauss_nb(d2)
    df_r = exp_nb(-r * s)
    df_q = exp_nb(-q * s)
    pdf2 = INV_SQRT_2PI * g2
    n1 = ncdf_from_gauss_nb(-d1, g1)
    n2 = ncdf_from_gauss_nb(-d2, g2)
    f = r * strike * df_r * n2 - q * spot * df_q * n1
    a = df_r * pdf2 * (q * bu - r * strike) / (spot * sd)
    dfs = a - q * df_q * n1
    gf = -a / spot * (d2 / sd + 1.0) + q * bu * df_r * pdf2 / (spot * spot * sd)
    return f, dfs, gf, sd, g1, g2, n1, n2, df_r, df_q


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
        for part in range(2):
            u, s, w = _split_point_nb(t, half, glx[k], glw[k], part)
            log_b = _log_boundary_at(2.0 * math.sqrt(u) / sqrt_t - 1.0, log_x, coef)
            f, df, gf = _premium_point_nb(spot, strike, log_s, log_b, s, r, q, vol)[:3]
            prem += w * f
            dprem += w * df
            gprem += w * gf
    return prem, dprem, gprem


@njit(cache=True, error_model="numpy")
def _qd_boundary_tangent_nb(strike, tau, r, q, vol, x_limit, b_start, dlog_x_r, dlog_x_q):
    """QD start b and d ln b / d(vol, r, q) by implicit differentiation of its defining equation."""
    b = _qd_boundary_nb(strike, tau, r, q, vol, x_limit, b_start)
    if not (b < x_limit and b > 1e-6 * x_limit):  # clipped: follows X (or its floor)
        return b, 0.0, dlog_x_r, dlog_x_q
    p, de, ga, _, vega, rho = bs_scalar_call_nb(False, b, strike, tau, r, q, vol)
    sqrt_tau = math.sqrt(tau)
    sd = vol * sqrt_tau
    d1 = (math.log(b / strike) + (r - q) * tau) / sd + 0.5 * sd
    phi_q = math.exp(-q * tau) * INV_SQRT_2PI * gauss_nb(d1)
    dde_v = -phi_q * (d1 - sd) / vol
    dde_r = phi_q * sqrt_tau / vol
    dde_q = -tau * de - dde_r
    dp_q = -tau * b * de
    e_r = math.exp(-r * tau)
    h = 1.0 - e_r
    v2 = vol * vol
    omega = 2.0 * (r - q) / v2
    a = omega - 1.0
    bq = 8.0 * r / (v2 * h)
    dd = math.sqrt(a * a + bq)
    lam = 0.5 * (-a - dd)
    da_v, da_r, da_q = -2.0 * omega / vol, 2.0 / v2, -2.0 / v2
    dbq_v, dbq_r = -2.0 * bq / vol, 8.0 / (v2 * h) - bq * tau * e_r / h
    dl_v = -0.5 * (da_v + (a * da_v + 0.5 * dbq_v) / dd)
    dl_r = -0.5 * (da_r + (a * da_r + 0.5 * dbq_r) / dd)
    dl_q = -0.5 * (da_q + (a * da_q) / dd)
    gap = strike - b - p
    fb = (1.0 + de) * (1.0 - lam) + b * ga
    fv = b * dde_v + dl_v * gap - lam * vega
    fr = b * dde_r + dl_r * gap - lam * rho
    fq = b * dde_q + dl_q * gap - lam * dp_q
    s = -1.0 / (fb * b)
    return b, fv * s, fr * s, fq * s


@njit(cache=True, error_model="numpy")
def put_boundary_tangent_nb(strike, t_max, r, q, vol, n_nodes, n_iter, glx, glw, coef, dcoef):
    """put_boundary_nb (FP-B) with forward-mode tangents d/d(vol, r, q).

    Values are computed with the same expressions as put_boundary_nb, so coef
    is identical; dcoef[p] holds the derivative of coef with respect to
    parameter p (0 vol, 1 r, 2 q), including the dependence of the QD start.
    Returns (ln X, d ln X/dr, d ln X/dq, last change).
    """
    x_limit = strike * min(1.0, r / q) if q > 0.0 else strike
    log_x = math.log(x_limit)
    capped = q > 0.0 and r < q
    dlx_r = 1.0 / r if capped else 0.0
    dlx_q = -1.0 / q if capped else 0.0
    log_k = math.log(strike)
    sqrt_t = math.sqrt(t_max)
    m = glx.shape[0]
    npts = 2 * m
    nn = n_nodes + 1
    taus = np.empty(nn)
    logb = np.empty(nn)
    dlogb = np.empty((3, nn))
    hvals = np.empty(nn)
    dhvals = np.empty(nn)
    zq = np.empty((nn, npts))
    sdq = np.empty((nn, npts))
    sq_s = np.empty((nn, npts))
    driftq = np.empty((nn, npts))
    wnq = np.empty((nn, npts))
    wnaq = np.empty((nn, npts))
    wd1q = np.empty((nn, npts))
    wd2q = np.empty((nn, npts))
    wrq = np.empty((nn, npts))  # d ln(wn)/dr
    wqq = np.empty((nn, npts))  # d ln(wd1)/dq
    wd2dq = np.empty((nn, npts))  # d wd2/dq
    for i in range(nn):
        zc = -math.cos(i * math.pi / n_nodes)
        tau = t_max * 0.25 * (1.0 + zc) ** 2
        taus[i] = tau
        if i == 0:
            logb[i] = log_x
            dlogb[0, i] = 0.0
            dlogb[1, i] = dlx_r
            dlogb[2, i] = dlx_q
        else:
            bqd, gv, gr, gq = _qd_boundary_tangent_nb(strike, tau, r, q, vol, x_limit, math.exp(logb[i - 1]),
                                                      dlx_r, dlx_q)
            logb[i] = math.log(bqd)
            dlogb[0, i] = gv
            dlogb[1, i] = gr
            dlogb[2, i] = gq
        hvals[i] = (logb[i] - log_x) ** 2
        if i == 0:
            continue
        half = math.sqrt(0.5 * tau)
        for k in range(m):
            for part in range(2):
                j = 2 * k + part
                u, s, wk = _split_point_nb(tau, half, glx[k], glw[k], part)
                sd = vol * math.sqrt(s)
                zq[i, j] = 2.0 * math.sqrt(u) / sqrt_t - 1.0
                sdq[i, j] = sd
                sq_s[i, j] = s
                driftq[i, j] = (r - q) * s
                e_qu = exp_nb(q * u)
                e_ru = exp_nb(r * u)
                wnaq[i, j] = wk * r * e_ru
                wnq[i, j] = wnaq[i, j] * INV_SQRT_2PI / sd
                wd1q[i, j] = wk * q * e_qu * INV_SQRT_2PI / sd
                wd2q[i, j] = wk * q * e_qu
                wrq[i, j] = wk * e_ru * (1.0 + r * u) * INV_SQRT_2PI / sd  # d wn / dr
                wqq[i, j] = wk * e_qu * (1.0 + q * u) * INV_SQRT_2PI / sd  # d wd1 / dq
                wd2dq[i, j] = wk * e_qu * (1.0 + q * u)  # d wd2 / dq
    cos_table = np.empty(2 * n_nodes)
    for j in range(2 * n_nodes):
        cos_table[j] = math.cos(j * math.pi / n_nodes)
    _chebyshev_coefficients(hvals, coef, cos_table)
    for p in range(3):
        dlx = 0.0 if p == 0 else (dlx_r if p == 1 else dlx_q)
        for i in range(nn):
            dhvals[i] = 2.0 * (logb[i] - log_x) * (dlogb[p, i] - dlx)
        _chebyshev_coefficients(dhvals, dcoef[p], cos_table)
    b1 = np.empty((4, npts))
    b2 = np.empty((4, npts))
    change = 0.0
    inv_vol = 1.0 / vol
    for _ in range(n_iter):
        change = 0.0
        for i in range(1, nn):
            tau = taus[i]
            lb = logb[i]
            sqrt_tau = math.sqrt(tau)
            sd_tau = vol * sqrt_tau
            d1, d2 = _d_plus_minus(lb - log_k, tau, r, q, vol)
            gd1 = gauss_nb(d1)
            gd2 = gauss_nb(d2)
            num = INV_SQRT_2PI * gd2 / sd_tau
            nd1 = ncdf_nb(d1)
            den = INV_SQRT_2PI * gd1 / sd_tau + nd1
            # tangents of the node terms
            x0 = lb - log_k + (r - q) * tau
            pd1 = INV_SQRT_2PI * gd1
            dd1 = (dlogb[0, i] - x0 / vol) / sd_tau + 0.5 * sqrt_tau
            dnum_v = num * (-d2 * (dd1 - sqrt_tau) - 1.0 / vol)
            dden_v = pd1 / sd_tau * (-d1 * dd1 - 1.0 / vol) + pd1 * dd1
            dd1 = (dlogb[1, i] + tau) / sd_tau
            dnum_r = num * (-d2 * dd1)
            dden_r = pd1 / sd_tau * (-d1 * dd1) + pd1 * dd1
            dd1 = (dlogb[2, i] - tau) / sd_tau
            dnum_q = num * (-d2 * dd1)
            dden_q = pd1 / sd_tau * (-d1 * dd1) + pd1 * dd1
            zrow = zq[i]
            for a in range(4):
                for j in range(npts):
                    b1[a, j] = 0.0
                    b2[a, j] = 0.0
            for k in range(n_nodes, 0, -1):
                ck = coef[k]
                for j in range(npts):
                    b0 = 2.0 * zrow[j] * b1[0, j] - b2[0, j] + ck
                    b2[0, j] = b1[0, j]
                    b1[0, j] = b0
                for p in range(3):
                    ck = dcoef[p, k]
                    for j in range(npts):
                        b0 = 2.0 * zrow[j] * b1[p + 1, j] - b2[p + 1, j] + ck
                        b2[p + 1, j] = b1[p + 1, j]
                        b1[p + 1, j] = b0
            c0 = 0.5 * coef[0]
            dlb_v = dlogb[0, i]
            dlb_r = dlogb[1, i]
            dlb_q = dlogb[2, i]
            for j in range(npts):
                z = zrow[j]
                h = z * b1[0, j] - b2[0, j] + c0
                pos = h > 0.0
                h = h if pos else 0.0
                sqh = math.sqrt(h)
                inv2 = 0.5 / sqh if pos else 0.0
                dsq_v = (z * b1[1, j] - b2[1, j] + 0.5 * dcoef[0, 0]) * inv2
                dsq_r = (z * b1[2, j] - b2[2, j] + 0.5 * dcoef[1, 0]) * inv2
                dsq_q = (z * b1[3, j] - b2[3, j] + 0.5 * dcoef[2, 0]) * inv2
                log_ratio = lb - log_x + sqh + driftq[i, j]
                sd = sdq[i, j]
                s = sq_s[i, j]
                e1 = log_ratio / sd + 0.5 * sd
                g1 = gauss_nb(e1)
                g2 = g1 * exp_nb(log_ratio)
                n1 = ncdf_from_gauss_nb(e1, g1)
                wn = wnq[i, j]
                wd1 = wd1q[i, j]
                wd2 = wd2q[i, j]
                num += wn * g2
                den += wd1 * g1 + wd2 * n1
                pdf1 = INV_SQRT_2PI * g1
                # d log_ratio and d e1 per parameter
                dl_v = dlb_v + dsq_v
                dl_r = dlb_r - dlx_r + dsq_r + s
                dl_q = dlb_q - dlx_q + dsq_q - s
                dsd_v = sd * inv_vol
                de_v = dl_v / sd - log_ratio * dsd_v / (sd * sd) + 0.5 * dsd_v
                de_r = dl_r / sd
                de_q = dl_q / sd
                dnum_v += wn * g2 * (-e1 * de_v + dl_v) - wn * inv_vol * g2
                dnum_r += wn * g2 * (-e1 * de_r + dl_r) + wrq[i, j] * g2
                dnum_q += wn * g2 * (-e1 * de_q + dl_q)
                dden_v += -wd1 * g1 * e1 * de_v - wd1 * inv_vol * g1 + wd2 * pdf1 * de_v
                dden_r += -wd1 * g1 * e1 * de_r + wd2 * pdf1 * de_r
                dden_q += -wd1 * g1 * e1 * de_q + wqq[i, j] * g1 + wd2 * pdf1 * de_q + wd2dq[i, j] * n1
            lb_new = log_k - (r - q) * tau + math.log(num / den)
            clipped = lb_new >= log_x
            lb_new = min(lb_new, log_x)
            change = max(change, abs(lb_new - lb)) if lb_new == lb_new else math.inf
            logb[i] = lb_new
            dlogb[0, i] = 0.0 if clipped else dnum_v / num - dden_v / den
            dlogb[1, i] = dlx_r if clipped else -tau + dnum_r / num - dden_r / den
            dlogb[2, i] = dlx_q if clipped else tau + dnum_q / num - dden_q / den
        for i in range(nn):
            hvals[i] = (logb[i] - log_x) ** 2
        _chebyshev_coefficients(hvals, coef, cos_table)
        for p in range(3):
            dlx = 0.0 if p == 0 else (dlx_r if p == 1 else dlx_q)
            for i in range(nn):
                dhvals[i] = 2.0 * (logb[i] - log_x) * (dlogb[p, i] - dlx)
            _chebyshev_coefficients(dhvals, dcoef[p], cos_table)
    return log_x, dlx_r, dlx_q, change


@njit(cache=True, error_model="numpy")
def put_premium_tangent_nb(spot, strike, t, r, q, vol, log_x, dlx_r, dlx_q, coef, dcoef, glx, glw):
    """put_premium_nb plus d premium / d(vol, r, q) with the boundary's own tangents dcoef."""
    sqrt_t = math.sqrt(t)
    half = math.sqrt(0.5 * t)
    log_s = math.log(spot)
    prem = 0.0
    dprem = 0.0
    gprem = 0.0
    pv = 0.0
    pr = 0.0
    pq = 0.0
    inv_vol = 1.0 / vol
    for k in range(glx.shape[0]):
        for part in range(2):
            u, s, w = _split_point_nb(t, half, glx[k], glw[k], part)
            z = 2.0 * math.sqrt(u) / sqrt_t - 1.0
            # the value of H and its three parameter tangents, each a Chebyshev series in z
            h = _chebyshev_sum_nb(z, coef)
            pos = h > 0.0
            h = h if pos else 0.0
            sqh = math.sqrt(h)
            inv2 = 0.5 / sqh if pos else 0.0
            log_b = log_x - sqh
            dlb_v = -_chebyshev_sum_nb(z, dcoef[0]) * inv2
            dlb_r = dlx_r - _chebyshev_sum_nb(z, dcoef[1]) * inv2
            dlb_q = dlx_q - _chebyshev_sum_nb(z, dcoef[2]) * inv2
            f, dfs, gf, sd, g1, g2, n1, n2, df_r, df_q = _premium_point_nb(spot, strike, log_s, log_b, s, r, q, vol)
            pdf1 = INV_SQRT_2PI * g1
            pdf2 = INV_SQRT_2PI * g2
            prem += w * f
            dprem += w * dfs
            gprem += w * gf
            # parameter tangents of the integrand
            x0 = log_s - log_b + (r - q) * s
            dsd_v = sd * inv_vol
            dd1_v = -dlb_v / sd - x0 * dsd_v / (sd * sd) + 0.5 * dsd_v
            dd1_r = (-dlb_r + s) / sd
            dd1_q = (-dlb_q - s) / sd
            dd2_v = dd1_v - dsd_v
            rk = r * strike * df_r
            qs = q * spot * df_q
            pv += w * (-rk * pdf2 * dd2_v + qs * pdf1 * dd1_v)
            pr += w * (-rk * pdf2 * dd1_r + qs * pdf1 * dd1_r + strike * df_r * (1.0 - r * s) * n2)
            pq += w * (-rk * pdf2 * dd1_q + qs * pdf1 * dd1_q - spot * df_q * (1.0 - q * s) * n1)
    return prem, dprem, gprem, pv, pr, pq


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
def american_put_sens_nb(spot, strike, t, r, q, vol, n_nodes, n_iter, glx_fp, glw_fp, glx_pr, glw_pr):
    """Put (r > 0, t > 0, vol > 0) price, delta, gamma and dV/d(vol, r, q) of the discretised price.

    ok is False when FP-B did not converge (the caller then bumps the FP-A price).
    """
    euro_p, euro_d, euro_g, _, euro_v, euro_r = bs_scalar_call_nb(False, spot, strike, t, r, q, vol)
    euro_q = -t * spot * euro_d  # dV/dq of any European: -t S delta
    nn = n_nodes + 1
    coef = np.empty(nn)
    dcoef = np.empty((3, nn))
    log_x, dlx_r, dlx_q, change = put_boundary_tangent_nb(strike, t, r, q, vol, n_nodes, n_iter,
                                                          glx_fp, glw_fp, coef, dcoef)
    if not change <= FP_B_CONVERGED:
        return math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, False
    if math.log(spot) <= _log_boundary_at(1.0, log_x, coef):
        return strike - spot, -1.0, 0.0, 0.0, 0.0, 0.0, True
    prem, dprem, gprem, pv, pr, pq = put_premium_tangent_nb(spot, strike, t, r, q, vol, log_x, dlx_r, dlx_q,
                                                            coef, dcoef, glx_pr, glw_pr)
    price = max(euro_p + prem, strike - spot)
    return price, euro_d + dprem, euro_g + gprem, euro_v + pv, euro_r + pr, euro_q + pq, True


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
    if with_greeks and (q > 0.0 if is_call else r > 0.0):
        # one boundary solve with forward-mode tangents: vega and both rhos of the discretised price;
        # the scheme only depends on (r t, q t, vol^2 t), so calendar theta = -(r dV/dr + q dV/dq + vol/2 dV/dvol)/t
        if is_call:
            p, d_k, g_k, vv, v_rq, v_qr, ok = american_put_sens_nb(strike, spot, t, q, r, vol, n_nodes, n_iter,
                                                                   glx_fp, glw_fp, glx_pr, glw_pr)
            de = (p - strike * d_k) / spot
            ga = strike * strike * g_k / (spot * spot)
            v_r, v_q = v_qr, v_rq
        else:
            p, de, ga, vv, v_r, v_q, ok = american_put_sens_nb(spot, strike, t, r, q, vol, n_nodes, n_iter,
                                                               glx_fp, glw_fp, glx_pr, glw_pr)
        if ok:
            theta = -(r * v_r + q * v_q + 0.5 * vol * vv) / t
            return p, de, ga, theta, vv, v_r
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
