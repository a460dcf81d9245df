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
from .special_nb import INV_SQRT_2PI, exp_nb, gauss_nb, ncdf_from_gauss_nb, ncdf_nb, select_nb

VOL_BUMP = 1e-5
RATE_BUMP = 1e-5
TIME_BUMP = 1e-5
FP_B_CONVERGED = 1e-5  # last FP-B step in ln B above this: treat as unstable, redo with FP-A
FP_A_ITERATIONS = 16
# fields of the boundary solvers' per-point geometry array (_fp_geometry_nb)
_G_Z, _G_SD, _G_S, _G_DRIFT, _G_WN, _G_WNA, _G_WD1, _G_WD2, _G_WN_R, _G_WD1_Q, _G_WD2_Q = range(11)
_GEO_FIELDS = 11
# fields of the tangent solver's per-point scratch array within one iteration
_P_INV2, _P_LR, _P_E1, _P_G1, _P_G2, _P_N1 = range(6)
_PT_FIELDS = 6


@njit(cache=True, error_model="numpy", inline="always")
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
    both substitutions remove a square-root endpoint behaviour.  Branch-free.
    """
    y = 0.5 * half * (1.0 + x)
    weight = 0.5 * half * w * 2.0 * y
    yy = y * y
    first = part == 0
    return select_nb(first, yy, tau - yy), select_nb(first, tau - yy, yy), weight


@njit(cache=True, error_model="numpy")
def _fp_geometry_nb(taus, t_max, r, q, vol, glx, glw):
    """Per-point geometry of the boundary integrals of nodes 1..n, computed once per solve.

    Column (i - 1) * npts + j holds point j of node i: Chebyshev argument z of
    the boundary time u, remaining time s, its sd and drift, and the quadrature
    weights with their discount factors (FP-B numerator and denominator, the
    FP-A numerator, and the r/q derivatives the tangent solver needs).
    """
    n_nodes = taus.shape[0] - 1
    npts = 2 * glx.shape[0]
    nq = n_nodes * npts
    sqrt_t = math.sqrt(t_max)
    geo = np.empty((_GEO_FIELDS, nq))
    # u, s and weight per point into the Z, S and WNA rows (overwritten below), then
    # flat passes of at most six stores each so that LLVM vectorises them
    uu = geo[_G_Z]
    ss = geo[_G_S]
    ww = geo[_G_WNA]
    for i in range(1, n_nodes + 1):
        tau = taus[i]
        half = math.sqrt(0.5 * tau)
        for k in range(glx.shape[0]):
            for part in range(2):
                j = (i - 1) * npts + 2 * k + part
                uu[j], ss[j], ww[j] = _split_point_nb(tau, half, glx[k], glw[k], part)
    e_q = np.empty(nq)
    e_r = np.empty(nq)
    for j in range(nq):
        u = uu[j]
        s = ss[j]
        sd = vol * math.sqrt(s)
        e_q[j] = exp_nb(q * u)
        e_r[j] = exp_nb(r * u)
        geo[_G_SD, j] = sd
        geo[_G_DRIFT, j] = (r - q) * s
    for j in range(nq):
        u = uu[j]
        wk = ww[j]
        sd = geo[_G_SD, j]
        e_qu = e_q[j]
        e_ru = e_r[j]
        wna = wk * r * e_ru
        geo[_G_WN, j] = wna * INV_SQRT_2PI / sd
        geo[_G_WD1, j] = wk * q * e_qu * INV_SQRT_2PI / sd
        geo[_G_WD2, j] = wk * q * e_qu
        geo[_G_WN_R, j] = wk * e_ru * (1.0 + r * u) * INV_SQRT_2PI / sd  # d wn / dr
        geo[_G_WD1_Q, j] = wk * e_qu * (1.0 + q * u) * INV_SQRT_2PI / sd  # d wd1 / dq
        geo[_G_WD2_Q, j] = wk * e_qu * (1.0 + q * u)  # d wd2 / dq
    for j in range(nq):
        ww[j] = ww[j] * r * e_r[j]  # WNA: the weight times r e^{ru}
        uu[j] = 2.0 * math.sqrt(uu[j]) / sqrt_t - 1.0  # Z
    return geo


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


@njit(cache=True, error_model="numpy", inline="always")
def _clenshaw_tails_nb(z, coef, dcoef, b1, b2):
    """Clenshaw recurrences of coef (row 0) and each dcoef[p] (row p + 1) at every point z[j] at once.

    The point loops vectorise and the series are interleaved per coefficient for
    instruction-level parallelism.  Leaves the last two terms in b1, b2, so a sum is
    z[j] b1[a, j] - b2[a, j] + c[0]/2, exactly as _chebyshev_sum_nb computes it point by point.
    """
    for a in range(b1.shape[0]):
        for j in range(z.shape[0]):
            b1[a, j] = 0.0
            b2[a, j] = 0.0
    for k in range(coef.shape[0] - 1, 0, -1):
        ck = coef[k]
        for j in range(z.shape[0]):
            b0 = 2.0 * z[j] * b1[0, j] - b2[0, j] + ck
            b2[0, j] = b1[0, j]
            b1[0, j] = b0
        for p in range(dcoef.shape[0]):
            ck = dcoef[p, k]
            for j in range(z.shape[0]):
                b0 = 2.0 * z[j] * b1[p + 1, j] - b2[p + 1, j] + ck
                b2[p + 1, j] = b1[p + 1, j]
                b1[p + 1, j] = b0


@njit(cache=True, error_model="numpy", inline="always")
def _add_rows_nb(terms, lo, hi, acc):
    """acc[k] += terms[k, lo] + ... + terms[k, hi - 1], one by one in point order.

    The kernels fill per-point terms in vectorised loops and sum them here in a
    fixed order, so the result does not depend on how the point loop was compiled.
    """
    for k in range(acc.shape[0]):
        a = acc[k]
        for j in range(lo, hi):
            a += terms[k, j]
        acc[k] = a


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
    npts = 2 * glx.shape[0]
    taus = np.empty(n_nodes + 1)
    logb = np.empty(n_nodes + 1)
    hvals = np.empty(n_nodes + 1)
    for i in range(n_nodes + 1):
        zc = -math.cos(i * math.pi / n_nodes)
        taus[i] = t_max * 0.25 * (1.0 + zc) ** 2
        logb[i] = log_x if i == 0 else math.log(_qd_boundary_nb(strike, taus[i], r, q, vol, x_limit,
                                                                 math.exp(logb[i - 1])))
        hvals[i] = (logb[i] - log_x) ** 2
    geo = _fp_geometry_nb(taus, t_max, r, q, vol, glx, glw)
    nq = geo.shape[1]
    zq = geo[_G_Z]
    cos_table = np.empty(2 * n_nodes)
    for j in range(2 * n_nodes):
        cos_table[j] = math.cos(j * math.pi / n_nodes)
    _chebyshev_coefficients(hvals, coef, cos_table)
    b1 = np.empty((1, nq))
    b2 = np.empty((1, nq))
    no_tangents = np.empty((0, n_nodes + 1))
    lbx = np.empty(nq)
    terms = np.empty((2, nq))
    node_terms = np.empty((2, n_nodes + 1))
    sums = np.empty(2)
    change = 0.0
    for _ in range(n_iter):
        # Jacobi: every node reads only its own ln B and the previous series, so all
        # points of all nodes go through one vectorised pass, then per-node sums in point order
        for i in range(1, n_nodes + 1):
            lbx_i = logb[i] - log_x
            for j in range((i - 1) * npts, i * npts):
                lbx[j] = lbx_i
        _clenshaw_tails_nb(zq, coef, no_tangents, b1, b2)
        c0 = 0.5 * coef[0]
        for j in range(nq):
            h = zq[j] * b1[0, j] - b2[0, j] + c0
            h = select_nb(h > 0.0, h, 0.0)
            log_ratio = lbx[j] + math.sqrt(h) + geo[_G_DRIFT, j]
            sd = geo[_G_SD, j]
            e1 = log_ratio / sd + 0.5 * sd
            g1 = gauss_nb(e1)
            g2 = g1 * exp_nb(log_ratio)
            n1 = ncdf_from_gauss_nb(e1, g1)
            if use_fp_a:
                terms[0, j] = geo[_G_WNA, j] * ncdf_from_gauss_nb(e1 - sd, g2)
                terms[1, j] = geo[_G_WD2, j] * n1
            else:
                terms[0, j] = geo[_G_WN, j] * g2
                terms[1, j] = geo[_G_WD1, j] * g1 + geo[_G_WD2, j] * n1
        # the nodes' own terms, vectorised over nodes
        for i in range(1, n_nodes + 1):
            tau = taus[i]
            sd_tau = vol * math.sqrt(tau)
            d1, d2 = _d_plus_minus(logb[i] - log_k, tau, r, q, vol)
            if use_fp_a:
                node_terms[0, i] = ncdf_nb(d2)
                node_terms[1, i] = ncdf_nb(d1)
            else:
                node_terms[0, i] = INV_SQRT_2PI * gauss_nb(d2) / sd_tau
                node_terms[1, i] = INV_SQRT_2PI * gauss_nb(d1) / sd_tau + ncdf_nb(d1)
        change = 0.0
        for i in range(1, n_nodes + 1):
            tau = taus[i]
            lb = logb[i]
            sums[0] = node_terms[0, i]
            sums[1] = node_terms[1, i]
            _add_rows_nb(terms, (i - 1) * npts, i * npts, sums)
            lb_new = log_k - (r - q) * tau + math.log(sums[0] / sums[1])
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


@njit(cache=True, error_model="numpy", inline="always")
def _premium_geometry_nb(t, glx, glw):
    """Chebyshev argument z, remaining time s and weight of each premium-integral point over [0, t]."""
    sqrt_t = math.sqrt(t)
    half = math.sqrt(0.5 * t)
    npts = 2 * glx.shape[0]
    zs = np.empty(npts)
    ss = np.empty(npts)
    ws = np.empty(npts)
    for k in range(glx.shape[0]):
        for part in range(2):
            j = 2 * k + part
            u, s, w = _split_point_nb(t, half, glx[k], glw[k], part)
            zs[j] = 2.0 * math.sqrt(u) / sqrt_t - 1.0
            ss[j] = s
            ws[j] = w
    return zs, ss, ws


@njit(cache=True, error_model="numpy")
def put_premium_nb(spot, strike, t, r, q, vol, log_x, coef, glx, glw):
    """Early-exercise premium of the put and its spot delta and gamma (boundary fixed).

    Per-point terms are computed in vectorisable loops and summed afterwards in point order.
    """
    zs, ss, ws = _premium_geometry_nb(t, glx, glw)
    npts = zs.shape[0]
    b1 = np.empty((1, npts))
    b2 = np.empty((1, npts))
    _clenshaw_tails_nb(zs, coef, np.empty((0, coef.shape[0])), b1, b2)
    c0 = 0.5 * coef[0]
    log_s = math.log(spot)
    terms = np.empty((3, npts))
    for j in range(npts):
        h = zs[j] * b1[0, j] - b2[0, j] + c0
        h = select_nb(h > 0.0, h, 0.0)
        f, df, gf = _premium_point_nb(spot, strike, log_s, log_x - math.sqrt(h), ss[j], r, q, vol)[:3]
        w = ws[j]
        terms[0, j] = w * f
        terms[1, j] = w * df
        terms[2, j] = w * gf
    sums = np.zeros(3)
    _add_rows_nb(terms, 0, npts, sums)
    return sums[0], sums[1], sums[2]


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


@njit(cache=True, error_model="numpy", inline="always")
def _log_ratio_tangents_nb(j, geo, b1, b2, c0_v, c0_r, c0_q, pt, node, dlx_r, dlx_q, inv_vol):
    """d log_ratio and d e1 by (vol, r, q) at FP-B point j (b1, b2 rows 1-3: Clenshaw tails of dH)."""
    z = geo[_G_Z, j]
    s = geo[_G_S, j]
    sd = geo[_G_SD, j]
    inv2 = pt[_P_INV2, j]
    dsq_v = (z * b1[1, j] - b2[1, j] + c0_v) * inv2
    dsq_r = (z * b1[2, j] - b2[2, j] + c0_r) * inv2
    dsq_q = (z * b1[3, j] - b2[3, j] + c0_q) * inv2
    dl_v = node[1, j] + dsq_v
    dl_r = node[2, j] - dlx_r + dsq_r + s
    dl_q = node[3, j] - dlx_q + dsq_q - s
    dsd_v = sd * inv_vol
    de_v = dl_v / sd - pt[_P_LR, j] * dsd_v / (sd * sd) + 0.5 * dsd_v
    return dl_v, dl_r, dl_q, de_v, dl_r / sd, dl_q / sd


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
    npts = 2 * glx.shape[0]
    nn = n_nodes + 1
    taus = np.empty(nn)
    logb = np.empty(nn)
    dlogb = np.empty((3, nn))
    hvals = np.empty(nn)
    dhvals = np.empty(nn)
    for i in range(nn):
        zc = -math.cos(i * math.pi / n_nodes)
        taus[i] = t_max * 0.25 * (1.0 + zc) ** 2
        if i == 0:
            logb[i] = log_x
            dlogb[0, i] = 0.0
            dlogb[1, i] = dlx_r
            dlogb[2, i] = dlx_q
        else:
            bqd, gv, gr, gq = _qd_boundary_tangent_nb(strike, taus[i], r, q, vol, x_limit, math.exp(logb[i - 1]),
                                                      dlx_r, dlx_q)
            logb[i] = math.log(bqd)
            dlogb[0, i] = gv
            dlogb[1, i] = gr
            dlogb[2, i] = gq
        hvals[i] = (logb[i] - log_x) ** 2
    geo = _fp_geometry_nb(taus, t_max, r, q, vol, glx, glw)
    nq = geo.shape[1]
    cos_table = np.empty(2 * n_nodes)
    for j in range(2 * n_nodes):
        cos_table[j] = math.cos(j * math.pi / n_nodes)
    _chebyshev_coefficients(hvals, coef, cos_table)
    for p in range(3):
        dlx = 0.0 if p == 0 else (dlx_r if p == 1 else dlx_q)
        for i in range(nn):
            dhvals[i] = 2.0 * (logb[i] - log_x) * (dlogb[p, i] - dlx)
        _chebyshev_coefficients(dhvals, dcoef[p], cos_table)
    zq = geo[_G_Z]
    b1 = np.empty((4, nq))
    b2 = np.empty((4, nq))
    node = np.empty((4, nq))  # each point's node values: ln B - ln X and d ln B / d(vol, r, q)
    pt = np.empty((_PT_FIELDS, nq))
    terms = np.empty((8, nq))
    node_terms = np.empty((5, nn))
    sums = np.empty(8)
    change = 0.0
    inv_vol = 1.0 / vol
    for _ in range(n_iter):
        # Jacobi: all points of all nodes in one vectorised pass (see put_boundary_nb)
        for i in range(1, nn):
            lbx_i = logb[i] - log_x
            for j in range((i - 1) * npts, i * npts):
                node[0, j] = lbx_i
                node[1, j] = dlogb[0, i]
                node[2, j] = dlogb[1, i]
                node[3, j] = dlogb[2, i]
        _clenshaw_tails_nb(zq, coef, dcoef, b1, b2)
        c0 = 0.5 * coef[0]
        c0_v = 0.5 * dcoef[0, 0]
        c0_r = 0.5 * dcoef[1, 0]
        c0_q = 0.5 * dcoef[2, 0]
        # three loops of at most six array stores each (more stores and LLVM's alias
        # checks give up on vectorising)
        for j in range(nq):
            h = zq[j] * b1[0, j] - b2[0, j] + c0
            pos = h > 0.0
            h = select_nb(pos, h, 0.0)
            sqh = math.sqrt(h)
            log_ratio = node[0, j] + sqh + geo[_G_DRIFT, j]
            sd = geo[_G_SD, j]
            e1 = log_ratio / sd + 0.5 * sd
            g1 = gauss_nb(e1)
            pt[_P_INV2, j] = select_nb(pos, 0.5 / sqh, 0.0)
            pt[_P_LR, j] = log_ratio
            pt[_P_E1, j] = e1
            pt[_P_G1, j] = g1
            pt[_P_G2, j] = g1 * exp_nb(log_ratio)
            pt[_P_N1, j] = ncdf_from_gauss_nb(e1, g1)
        for j in range(nq):
            dl_v, dl_r, _, de_v, de_r, _ = _log_ratio_tangents_nb(
                j, geo, b1, b2, c0_v, c0_r, c0_q, pt, node, dlx_r, dlx_q, inv_vol)
            e1, g1, g2, n1 = pt[_P_E1, j], pt[_P_G1, j], pt[_P_G2, j], pt[_P_N1, j]
            wn = geo[_G_WN, j]
            terms[0, j] = wn * g2
            terms[1, j] = geo[_G_WD1, j] * g1 + geo[_G_WD2, j] * n1
            terms[2, j] = wn * g2 * (-e1 * de_v + dl_v) - wn * inv_vol * g2
            terms[3, j] = wn * g2 * (-e1 * de_r + dl_r) + geo[_G_WN_R, j] * g2
        for j in range(nq):
            _, _, dl_q, de_v, de_r, de_q = _log_ratio_tangents_nb(
                j, geo, b1, b2, c0_v, c0_r, c0_q, pt, node, dlx_r, dlx_q, inv_vol)
            e1, g1, g2, n1 = pt[_P_E1, j], pt[_P_G1, j], pt[_P_G2, j], pt[_P_N1, j]
            wd1 = geo[_G_WD1, j]
            wd2 = geo[_G_WD2, j]
            pdf1 = INV_SQRT_2PI * g1
            terms[4, j] = geo[_G_WN, j] * g2 * (-e1 * de_q + dl_q)
            terms[5, j] = -wd1 * g1 * e1 * de_v - wd1 * inv_vol * g1 + wd2 * pdf1 * de_v
            terms[6, j] = -wd1 * g1 * e1 * de_r + wd2 * pdf1 * de_r
            terms[7, j] = -wd1 * g1 * e1 * de_q + geo[_G_WD1_Q, j] * g1 + wd2 * pdf1 * de_q + geo[_G_WD2_Q, j] * n1
        # the nodes' own normal terms, vectorised over nodes
        for i in range(1, nn):
            d1, d2 = _d_plus_minus(logb[i] - log_k, taus[i], r, q, vol)
            node_terms[0, i] = d1
            node_terms[1, i] = d2
            node_terms[2, i] = gauss_nb(d1)
            node_terms[3, i] = gauss_nb(d2)
            node_terms[4, i] = ncdf_nb(d1)
        change = 0.0
        for i in range(1, nn):
            tau = taus[i]
            lb = logb[i]
            sqrt_tau = math.sqrt(tau)
            sd_tau = vol * sqrt_tau
            d1, d2, gd1, gd2, nd1 = (node_terms[0, i], node_terms[1, i], node_terms[2, i], node_terms[3, i],
                                     node_terms[4, i])
            num = INV_SQRT_2PI * gd2 / sd_tau
            den = INV_SQRT_2PI * gd1 / sd_tau + nd1
            # tangents of the node terms
            x0 = lb - log_k + (r - q) * tau
            pd1 = INV_SQRT_2PI * gd1
            dd1 = (dlogb[0, i] - x0 / vol) / sd_tau + 0.5 * sqrt_tau
            sums[2] = num * (-d2 * (dd1 - sqrt_tau) - 1.0 / vol)
            sums[5] = pd1 / sd_tau * (-d1 * dd1 - 1.0 / vol) + pd1 * dd1
            dd1 = (dlogb[1, i] + tau) / sd_tau
            sums[3] = num * (-d2 * dd1)
            sums[6] = pd1 / sd_tau * (-d1 * dd1) + pd1 * dd1
            dd1 = (dlogb[2, i] - tau) / sd_tau
            sums[4] = num * (-d2 * dd1)
            sums[7] = pd1 / sd_tau * (-d1 * dd1) + pd1 * dd1
            sums[0] = num
            sums[1] = den
            _add_rows_nb(terms, (i - 1) * npts, i * npts, sums)
            num, den, dnum_v, dnum_r, dnum_q, dden_v, dden_r, dden_q = sums
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
    zs, ss, ws = _premium_geometry_nb(t, glx, glw)
    npts = zs.shape[0]
    # the value of H and its three parameter tangents, each a Chebyshev series in z
    b1 = np.empty((4, npts))
    b2 = np.empty((4, npts))
    _clenshaw_tails_nb(zs, coef, dcoef, b1, b2)
    c0 = 0.5 * coef[0]
    c0_v = 0.5 * dcoef[0, 0]
    c0_r = 0.5 * dcoef[1, 0]
    c0_q = 0.5 * dcoef[2, 0]
    log_s = math.log(spot)
    inv_vol = 1.0 / vol
    terms = np.empty((6, npts))
    for j in range(npts):
        z = zs[j]
        s = ss[j]
        w = ws[j]
        h = z * b1[0, j] - b2[0, j] + c0
        pos = h > 0.0
        h = select_nb(pos, h, 0.0)
        sqh = math.sqrt(h)
        inv2 = select_nb(pos, 0.5 / sqh, 0.0)
        log_b = log_x - sqh
        dlb_v = -(z * b1[1, j] - b2[1, j] + c0_v) * inv2
        dlb_r = dlx_r - (z * b1[2, j] - b2[2, j] + c0_r) * inv2
        dlb_q = dlx_q - (z * b1[3, j] - b2[3, j] + c0_q) * inv2
        f, dfs, gf, sd, g1, g2, n1, n2, df_r, df_q = _premium_point_nb(spot, strike, log_s, log_b, s, r, q, vol)
        pdf1 = INV_SQRT_2PI * g1
        pdf2 = INV_SQRT_2PI * g2
        # parameter tangents of the integrand
        x0 = log_s - log_b + (r - q) * s
        dsd_v = sd * inv_vol
        dd1_v = -dlb_v / sd - x0 * dsd_v / (sd * sd) + 0.5 * dsd_v
        dd1_r = (-dlb_r + s) / sd
        dd1_q = (-dlb_q - s) / sd
        dd2_v = dd1_v - dsd_v
        rk = r * strike * df_r
        qs = q * spot * df_q
        terms[0, j] = w * f
        terms[1, j] = w * dfs
        terms[2, j] = w * gf
        terms[3, j] = w * (-rk * pdf2 * dd2_v + qs * pdf1 * dd1_v)
        terms[4, j] = w * (-rk * pdf2 * dd1_r + qs * pdf1 * dd1_r + strike * df_r * (1.0 - r * s) * n2)
        terms[5, j] = w * (-rk * pdf2 * dd1_q + qs * pdf1 * dd1_q - spot * df_q * (1.0 - q * s) * n1)
    sums = np.zeros(6)
    _add_rows_nb(terms, 0, npts, sums)
    return sums[0], sums[1], sums[2], sums[3], sums[4], sums[5]


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
