"""American option kernels: Andersen-Lake-Offengeim collocation solved by Newton's method, in SIMD blocks.

Every option is mapped to a put by put-call symmetry C(S, K, r, q) = P(K, S, q, r).
For the put (rate r, carry q):

* r <= 0 and q >= r: early exercise is never optimal, American = European.
* r > 0: one exercise boundary B(tau), solved here (below).
* r <= 0 and q < r ("double boundary"): binomial tree (slow fallback, rare).

The boundary is represented by its values y_i = ln B(tau_i) on NODES Chebyshev
nodes in sqrt(tau) and interpolated through H = ln(B/X)^2, X = K min(1, r/q)
(ALO's representation).  The NODES collocation equations are ALO's FP-B
(smooth-pasting) equations

    F_i(y) = y_i - ln K + (r - q) tau_i - ln N_i(y) + ln D_i(y) = 0,

with the integrals over [0, tau_i] on Gauss-Legendre points after u = tau sin^2(phi),
which removes both square-root endpoint behaviours.  Instead of ALO's fixed-point
sweeps (linear, ~10x per sweep) they are solved by damped Newton with the exact
Jacobian: each integrand depends on the boundary only through the interpolated H at
its point, a fixed linear combination of the node values, so the Jacobian costs one
multiply-add per point and node.  Started from QD plus a tabulated correction
(american_scheme.py), Newton reaches the discrete solution itself in 2-3 evaluations;
the price does not depend on the start.

Greeks: delta and gamma differentiate the premium integral (the boundary does not
depend on spot).  Vega and both rhos use the implicit function theorem at the
solution, dy/dtheta = -J^{-1} dF/dtheta with F and J evaluated once more at the
solution: exact derivatives of the discrete price.  Every point scales with T, so the
discrete price depends on (rT, qT, vol sqrt T) only and
theta = -(r dV/dr + q dV/dq + vol/2 dV/dvol) / T.

Layout for speed: options are priced LANES at a time, every quantity carrying a
trailing lane axis and every inner loop running over the lanes, so LLVM turns the
whole computation (points, node terms, the Jacobian, its LU factorisation, the
solves) into vector code with the options of a block in lock step.  All per-block
data live in one flat buffer at compile-time offsets (NODES, NQ, PREMIUM_POINTS
and LANES are constants): the compiler can then prove that rows do not overlap,
which it cannot across arrays or with runtime strides, and without that proof it
leaves most of these loops scalar.  A lane that has converged is frozen, so an
option's result does not depend on the other options in its block.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from .bsm_nb import bs_scalar_call_nb
from .special_nb import INV_SQRT_2PI, exp_nb, gauss_nb, log_nb, ncdf_from_gauss_nb, ncdf_nb, select_nb

_FM = {"contract"}  # fused multiply-adds only: no reassociation, NaN/inf semantics kept

# --- scheme (compile-time sizes) ---------------------------------------------------------------
NODES = 10  # Chebyshev collocation nodes (node 0, tau = 0, where B = X, is implicit)
# Gauss-Legendre points of each node's integral (after u = tau sin^2 phi), from the shortest tau_i
# to T: the early nodes' integrals span little time, over which the boundary hardly moves, and
# need fewer (8 points at every node give the same prices to within 5e-6, docs/pricing.md)
POINTS_PER_NODE = (2, 4, 4, 6, 6, 8, 8, 8, 8, 8)
PREMIUM_POINTS = 32  # Gauss-Legendre points of the premium integral over [0, T]
LANES = 16  # options per block (two AVX-512 vectors); LLVM leaves constant loops of 8 scalar


def _point_groups(points_per_node: tuple[int, ...]) -> tuple[tuple[int, int, int, int], ...]:
    """Runs of consecutive nodes with equal point counts: (first node, end node, points, first point index).

    Within a group point jj of node i is at first point index + jj * (end - first) + (i - first),
    so that every loop over a group's nodes and points has compile-time bounds.
    """
    groups = []
    start = 0
    offset = 0
    for i in range(1, len(points_per_node) + 1):
        if i == len(points_per_node) or points_per_node[i] != points_per_node[start]:
            groups.append((start, i, points_per_node[start], offset))
            offset += (i - start) * points_per_node[start]
            start = i
    return tuple(groups)


POINT_GROUPS = _point_groups(POINTS_PER_NODE)
NQ = sum(POINTS_PER_NODE)
assert len(POINTS_PER_NODE) == NODES and len(POINT_GROUPS) == 4  # the kernels call each group's loop once

# --- Newton -------------------------------------------------------------------------------------
NEWTON_TOL = 1e-6  # a lane has converged when its largest Newton step in ln B is below this (error left ~C 1e-12)
NEWTON_MAX_STEPS = 20
NEWTON_MAX_MOVE = 0.5  # largest move of one node's ln B in one step
LAM_MIN = 1.0 / 64.0  # a lane that must backtrack below this step fraction has failed
QD_STEPS = 6  # Newton steps on the QD equation per node (a starting value only)
QD_FLOOR = 13.815510557964274  # ln(1e6): the QD start stays above X / 1e6
LN2 = 0.6931471805599453
PIVOT_MIN = 1e-6  # smallest |pivot| of the unpivoted LU (the Jacobians are close to the identity)
TREE_STEPS = 1000  # tree fallback: Richardson 2 V(2N) - V(N)
MAX_CHUNKS = 64  # parallel chunks of blocks per call, a power of 2 (block_chunks_nb)
# Newton-start table, one per side.  r >= q: axes ln(vol sqrt T), ln((r - q) T / vol sqrt T + TABLE_EPS),
# ln(r T / vol sqrt T); r < q: ln(vol sqrt T), ln(q T / vol sqrt T), kink_axis(r / q) (X = K r / q there)
TABLE_SHAPE = (40, 32, 40)
TABLE_LO = ((-7.0, -16.2, -12.0), (-7.0, -10.0, 0.0))
TABLE_HI = ((1.6, 2.0, 3.0), (1.6, 2.0, 1.42))
TABLE_EPS = 1e-7
KINK_LOG = 0.03  # weight of the logarithmic part of kink_axis
KINK_EPS = 1e-6
EXERCISE_MARGIN = 1e-3  # spot this far below the perpetual boundary is exercised without a solve
NEGLIGIBLE_PREMIUM = 1e-13  # premium bound below this times K: the European price and Greeks are returned
VOL_BUMP = 1e-5
RATE_BUMP = 1e-5
TIME_BUMP = 1e-5


def kink_axis(ratio):
    """The r < q table's axis in ratio = r / q in (0, 1): linear, plus a logarithmic part that
    resolves the approach to the kink of X at r = q (ratio 1 maps to 1 + 0.03 ln(1e6) = 1.41).
    NumPy arrays or (as kink_axis_nb, in kernels) scalars."""
    return ratio - KINK_LOG * np.log(1.0 + KINK_EPS - ratio)


kink_axis_nb = njit(inline="always")(kink_axis)


class AmericanScheme(NamedTuple):
    """Collocation nodes, quadrature points and interpolation weights, in units of T."""

    tau_hat: np.ndarray  # (NODES,) node times tau_i / T, increasing, last = 1
    sqrt_tau_hat: np.ndarray
    u_hat: np.ndarray  # (NQ,) boundary time u of each node-integral point / T (in POINT_GROUPS order)
    s_hat: np.ndarray  # (NQ,) remaining time tau_i - u, / T
    sqrt_s_hat: np.ndarray
    w_hat: np.ndarray  # (NQ,) quadrature weight / T
    mt: np.ndarray  # (NODES, NQ) weight of node value H_k in the interpolated H at each point
    sp_hat: np.ndarray  # (PREMIUM_POINTS,) remaining time T - u of the premium points, / T
    sqrt_sp_hat: np.ndarray
    wp_hat: np.ndarray
    mtp: np.ndarray  # (NODES, PREMIUM_POINTS)
    start_table: np.ndarray  # (2, *TABLE_SHAPE, NODES) Newton-start corrections (american_scheme.py); empty: QD only


def _interpolation_weights(nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(len(x), len(nodes)) Lagrange weights on Chebyshev extrema (barycentric formula, exact at nodes)."""
    w = (-1.0) ** np.arange(nodes.size)
    w[0] *= 0.5
    w[-1] *= 0.5
    diff = x[:, None] - nodes[None, :]
    at_node = np.abs(diff) < 1e-15
    t = w / np.where(at_node, 1.0, diff)
    m = t / t.sum(axis=1, keepdims=True)
    rows = at_node.any(axis=1)
    m[rows] = at_node[rows].astype(np.float64)
    return m


def _sine_squared_rule(order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points (u, s = 1 - u) and weights on [0, 1] from Gauss-Legendre in phi, u = sin^2(phi).

    sqrt(u) and sqrt(s) are smooth in phi, so neither the boundary's sqrt(u) start nor
    the kernels' 1/sqrt(s) end limits the rule.
    """
    x, w = np.polynomial.legendre.leggauss(order)
    phi = 0.25 * np.pi * (1.0 + x)
    return np.sin(phi) ** 2, np.cos(phi) ** 2, 0.25 * np.pi * w * np.sin(2.0 * phi)


def build_scheme() -> AmericanScheme:
    """The kernel's scheme for the compile-time sizes NODES, POINTS_PER_NODE, PREMIUM_POINTS."""
    z = -np.cos(np.pi * np.arange(NODES + 1) / NODES)  # Chebyshev extrema; z = 2 sqrt(tau/T) - 1
    tau_hat = (0.25 * (1.0 + z) ** 2)[1:]
    u_hat, s_hat, w_hat = (np.empty(NQ) for _ in range(3))
    for first, end, points, offset in POINT_GROUPS:
        u1, s1, w1 = _sine_squared_rule(points)
        span = slice(offset, offset + points * (end - first))
        u_hat[span], s_hat[span], w_hat[span] = ((x[:, None] * tau_hat[None, first:end]).ravel() for x in (u1, s1, w1))
    mt = _interpolation_weights(z, 2.0 * np.sqrt(u_hat) - 1.0)[:, 1:].T
    up, sp, wp = _sine_squared_rule(PREMIUM_POINTS)
    mtp = _interpolation_weights(z, 2.0 * np.sqrt(up) - 1.0)[:, 1:].T
    arrays = dict(tau_hat=tau_hat, sqrt_tau_hat=np.sqrt(tau_hat), u_hat=u_hat, s_hat=s_hat,
                  sqrt_s_hat=np.sqrt(s_hat), w_hat=w_hat, mt=mt, sp_hat=sp, sqrt_sp_hat=np.sqrt(sp),
                  wp_hat=wp, mtp=mtp, start_table=np.zeros((2, 0, 0, 0, NODES)))
    out = {}
    for key, a in arrays.items():
        a = np.ascontiguousarray(a, dtype=np.float64)
        a.flags.writeable = False
        out[key] = a
    return AmericanScheme(**out)


# --- the work buffer: rows at compile-time offsets ----------------------------------------------
# lane rows (per-lane scalars); _GOOD, _ACTIVE, _DONE are flags stored as 1.0 / 0.0
(_S, _K, _T, _R, _Q, _V, _LX, _LK, _VT, _B, _DXR, _DXQ, _STEP, _RES, _LAM,
 _PRICE, _DELTA, _GAMMA, _DVOL, _DR, _DQ, _GOOD, _ACTIVE, _DONE, _EVALS, _WARM) = range(26)
_LANE_ROWS = 26  # _EVALS: collocation evaluations a lane needed (diagnostics); _WARM: start from _YW
# node rows
(_Y, _HN, _NN, _DN, _DNN, _DDN, _IN, _ID, _SDAN, _SDAD, _F, _PY,
 _YP, _DP, _RHS0, _RHS1, _RHS2, _QL, _QB, _YW) = range(20)
_NODE_ROWS = 20
# point rows: geometry, normal terms, integrand terms
(_SD, _ISD, _DRIFT, _WN, _WD1, _WD2, _WR, _WQ, _H, _E1, _G1, _G2, _N1, _INV,
 _AN, _AD, _DAN, _DAD, _CAN, _CAD) = range(20)
_PT_ROWS = 20
# premium point rows
_PH, _PG, _PINV, _PLB, _PD1, _PG2, _PN1, _PN2, _PF, _PFS, _PFSS, _PFV, _PFR, _PFQ, _PFY = range(15)
_PREM_ROWS = 15

_MAT = NODES * NODES * LANES
_LANE_BASE = 0
_NODE_BASE = _LANE_BASE + _LANE_ROWS * LANES
_PT_BASE = _NODE_BASE + _NODE_ROWS * NODES * LANES
_JAC_BASE = _PT_BASE + _PT_ROWS * NQ * LANES  # the Jacobian, then its LU factors (diagonal inverted)
_CPN_BASE = _JAC_BASE + _MAT  # coupling sums of N and D through the interpolation, (k, i) per lane
_CPD_BASE = _CPN_BASE + _MAT
_PREM_BASE = _CPD_BASE + _MAT
WORK_SIZE = _PREM_BASE + _PREM_ROWS * PREMIUM_POINTS * LANES


@njit(inline="always")
def _ln(row):
    """Offset of lane row `row` (add the lane)."""
    return _LANE_BASE + row * LANES


@njit(inline="always")
def _nd(row, i):
    """Offset of node i of node row `row`."""
    return _NODE_BASE + (row * NODES + i) * LANES


@njit(inline="always")
def _pt(row, j):
    """Offset of point j of point row `row`."""
    return _PT_BASE + (row * NQ + j) * LANES


@njit(inline="always")
def _gj(first, end, offset, jj, i):
    """Index of point jj of node i in the point group (first, end, _, offset) (see _point_groups)."""
    return offset + jj * (end - first) + (i - first)


@njit(inline="always")
def _pr(row, j):
    """Offset of premium point j of premium row `row`."""
    return _PREM_BASE + (row * PREMIUM_POINTS + j) * LANES


@njit(inline="always")
def _mx(base, i, k):
    """Offset of entry (i, k) of the lane-batched NODES x NODES matrix at `base`."""
    return base + (i * NODES + k) * LANES


@njit(inline="always")
def _lanes(wk):
    """LANES, read from the buffer's length so that the compiler cannot see it.

    With a constant trip count of 16 LLVM unrolls a lane loop fully and the leftover
    straight-line code is vectorised only if it can prove, without runtime checks, that
    stores do not overlap loads; for the LU and the solves, whose rows are picked by
    loop variables, it cannot, and they stay scalar.  With a runtime trip count the loop
    vectoriser handles them instead, with a runtime overlap check (3.4x faster LU).
    """
    return wk.shape[0] // (WORK_SIZE // LANES)


@njit(inline="always")
def _flag(wk, row, w):
    """A lane flag (stored as 1.0 / 0.0) as a bool."""
    return wk[_ln(row) + w] > 0.5


@njit(cache=True)
def block_work_nb():
    """One thread's work buffer for a block of LANES options."""
    return np.empty(WORK_SIZE)


@njit(cache=True)
def block_chunks_nb():
    """(nchunks, first): how a call's blocks are dealt out; parallel chunk p runs blocks first[p] + k nchunks
    (none if first[p] is past the call's last block), whatever the number of blocks.

    Each chunk reuses one work buffer.  The blocks come sorted, alike options together, and
    their cost drifts along that order (cold Newton starts after warm ones, one side of the
    start table needing more steps than the other), while prange gives each thread a
    contiguous run of chunks.  With MAX_CHUNKS chunks whose first blocks are the bit
    reversals of their positions, a thread's run of chunks starts at residues spread evenly
    over [0, MAX_CHUNKS): with 2^k threads thread t gets exactly the blocks b = t (mod 2^k).
    """
    bits = 0
    while (1 << bits) < MAX_CHUNKS:
        bits += 1
    first = np.empty(MAX_CHUNKS, dtype=np.int64)
    for p in range(MAX_CHUNKS):
        r = 0
        for k in range(bits):
            r |= ((p >> k) & 1) << (bits - 1 - k)
        first[p] = r
    return MAX_CHUNKS, first


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _setup_nb(wk):
    """Derived per-lane constants: ln X, ln K, vol sqrt(T), r - q, d ln X / d(r, q)."""
    for w in range(LANES):
        k = wk[_ln(_K) + w]
        r = wk[_ln(_R) + w]
        q = wk[_ln(_Q) + w]
        capped = (q > 0.0) & (r < q)
        q_safe = select_nb(capped, q, 1.0)
        wk[_ln(_LX) + w] = log_nb(select_nb(capped, k * r / q_safe, k))
        wk[_ln(_LK) + w] = log_nb(k)
        wk[_ln(_VT) + w] = wk[_ln(_V) + w] * math.sqrt(wk[_ln(_T) + w])
        wk[_ln(_B) + w] = r - q
        wk[_ln(_DXR) + w] = select_nb(capped, 1.0 / r, 0.0)
        wk[_ln(_DXQ) + w] = select_nb(capped, -1.0 / q_safe, 0.0)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _qd_start_nb(sch, wk, with_table):
    """QD (Barone-Adesi-Whaley form) boundary at every node: QD_STEPS Newton steps per node in y = ln b.

    b solves b (1 + delta_E(b)) + lambda (K - b - P_E(b)) = 0 (European put P_E at b).
    Every node starts from ln X - vol sqrt(tau_i) / 2 (near the short-time boundary) and
    all nodes step together.  Each step waits on the one before, so stepping the nodes
    one after another, each from the previous node's value, left the vector units idle
    on that latency: 1.6x slower, for no fewer Newton evaluations after the table.
    Only a starting value: Newton on the collocation equations does the rest.  Per node the
    constants go into node rows that the collocation fills later: _QL lambda, _QB e^{-q tau},
    _DN K e^{-r tau}, _NN 1/sd, _DNN e^{-q tau} / (K e^{-r tau}), _DDN the part of d+ without y.
    with_table: add the start table's correction (if the scheme has a table).
    """
    for i in range(NODES):
        th = sch.tau_hat[i]
        st = sch.sqrt_tau_hat[i]
        for w in range(LANES):
            r = wk[_ln(_R) + w]
            v2 = wk[_ln(_V) + w] * wk[_ln(_V) + w]
            omega = 2.0 * wk[_ln(_B) + w] / v2
            tau = th * wk[_ln(_T) + w]
            sd = wk[_ln(_VT) + w] * st
            df_r = exp_nb(-r * tau)
            df_q = exp_nb(-wk[_ln(_Q) + w] * tau)
            k_r = wk[_ln(_K) + w] * df_r
            isd = 1.0 / sd
            wk[_nd(_QL, i) + w] = 0.5 * (-(omega - 1.0) - math.sqrt((omega - 1.0) ** 2 + 8.0 * r / (v2 * (1.0 - df_r))))
            wk[_nd(_QB, i) + w] = df_q
            wk[_nd(_DN, i) + w] = k_r
            wk[_nd(_NN, i) + w] = isd
            wk[_nd(_DNN, i) + w] = df_q / k_r
            wk[_nd(_DDN, i) + w] = (wk[_ln(_B) + w] * tau - wk[_ln(_LK) + w]) * isd + 0.5 * sd
            wk[_nd(_Y, i) + w] = wk[_ln(_LX) + w] - 0.5 * sd
    for _ in range(QD_STEPS):
        for i in range(NODES):
            st = sch.sqrt_tau_hat[i]
            for w in range(LANES):
                df_q = wk[_nd(_QB, i) + w]
                k_r = wk[_nd(_DN, i) + w]
                isd = wk[_nd(_NN, i) + w]
                lam = wk[_nd(_QL, i) + w]
                y = wk[_nd(_Y, i) + w]
                b = exp_nb(y)
                d1 = y * isd + wk[_nd(_DDN, i) + w]
                g1 = gauss_nb(d1)
                n1 = ncdf_from_gauss_nb(-d1, g1)
                g2 = g1 * b * wk[_nd(_DNN, i) + w]  # exp(-d-^2 / 2)
                one_de = 1.0 - df_q * n1  # 1 + delta_E
                p = k_r * ncdf_from_gauss_nb(wk[_ln(_VT) + w] * st - d1, g2) - b * df_q * n1
                f = b * one_de + lam * (wk[_ln(_K) + w] - b - p)
                dfdy = b * one_de * (1.0 - lam) + b * df_q * INV_SQRT_2PI * g1 * isd  # b df/db
                step = select_nb(dfdy > 0.0, f / dfdy, 0.0)
                step = select_nb(step < LN2, step, LN2)  # b falls by at most half per step
                y_new = y - step
                y_new = select_nb(y_new < wk[_ln(_LX) + w], y_new, wk[_ln(_LX) + w])
                floor = wk[_ln(_LX) + w] - QD_FLOOR
                wk[_nd(_Y, i) + w] = select_nb(y_new > floor, y_new, floor)
    if with_table and sch.start_table.shape[1] > 0:
        _table_correction_nb(sch.start_table, wk)


@njit(inline="always")
def _table_axis(x, lo, hi, n):
    """Cell index and weight of x on a uniform axis of n points over [lo, hi] (clamped)."""
    u = (min(max(x, lo), hi) - lo) / (hi - lo) * (n - 1)
    k = min(int(u), n - 2)
    return k, u - k


@njit(inline="always")
def _table_position(vt, rt, dt, na, ne, nc):
    """A put's place in the start table: side (0: r >= q), then (cell, weight) on each axis.

    vt = vol sqrt T, rt = r T, dt = (r - q) T; the table has na x ne x nc points per side.
    Each side has its own axes (TABLE_LO): for r < q the ratio r / q, which sets X = K r / q,
    on a linear axis makes the correction several times smoother than ln(r T / vol sqrt T).
    """
    if dt >= 0.0:
        side = 0
        e = math.log(dt / vt + TABLE_EPS)
        c = math.log(rt / vt)
    else:
        side = 1
        e = math.log((rt - dt) / vt)
        c = kink_axis_nb(rt / (rt - dt))
    ia, fa = _table_axis(math.log(vt), TABLE_LO[side][0], TABLE_HI[side][0], na)
    ie, fe = _table_axis(e, TABLE_LO[side][1], TABLE_HI[side][1], ne)
    ic, fc = _table_axis(c, TABLE_LO[side][2], TABLE_HI[side][2], nc)
    return side, ia, fa, ie, fe, ic, fc


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _table_cell_nb(t, r, q, vol):
    """The start-table cell of a put (r > 0), as one sortable number (side, then the three axes)."""
    na, ne, nc = TABLE_SHAPE
    side, ia, _, ie, _, ic, _ = _table_position(vol * math.sqrt(t), r * t, (r - q) * t, na, ne, nc)
    return ((side * na + ia) * ne + ie) * nc + ic


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _table_correction_nb(tab, wk):
    """Add the tabulated correction (collocation solution - QD, in units of vol sqrt T) to the QD start.

    Trilinear on the axes of _table_position, one table for r >= q and one for r < q, so
    that the kink of X = K min(1, r/q) at r = q is never interpolated across.  Only a
    start: Newton's result does not depend on it.
    """
    na, ne, nc = tab.shape[1], tab.shape[2], tab.shape[3]
    for w in range(LANES):
        vt = wk[_ln(_VT) + w]
        side, ia, fa, ie, fe, ic, fc = _table_position(vt, wk[_ln(_R) + w] * wk[_ln(_T) + w],
                                                       wk[_ln(_B) + w] * wk[_ln(_T) + w], na, ne, nc)
        for i in range(NODES):
            acc = 0.0
            for da in range(2):
                wa = fa if da == 1 else 1.0 - fa
                for de in range(2):
                    we = fe if de == 1 else 1.0 - fe
                    for dc in range(2):
                        wc = fc if dc == 1 else 1.0 - fc
                        acc += wa * we * wc * tab[side, ia + da, ie + de, ic + dc, i]
            y = wk[_nd(_Y, i) + w] + vt * acc
            limit = wk[_ln(_LX) + w] - 1e-12
            wk[_nd(_Y, i) + w] = y if (y < limit and y == y) else wk[_nd(_Y, i) + w]


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _geometry_nb(sch, wk):
    """Per point and lane: sd, 1/sd, drift and the kernels' weights with their discount factors."""
    for j in range(NQ):
        uh = sch.u_hat[j]
        wh = sch.w_hat[j]
        sh = sch.s_hat[j]
        rs = sch.sqrt_s_hat[j]
        for w in range(LANES):
            t = wk[_ln(_T) + w]
            r = wk[_ln(_R) + w]
            q = wk[_ln(_Q) + w]
            wt = wh * t
            sd = wk[_ln(_VT) + w] * rs
            isd = 1.0 / sd
            wr = wt * exp_nb(r * uh * t)
            wq = wt * exp_nb(q * uh * t)
            wk[_pt(_SD, j) + w] = sd
            wk[_pt(_ISD, j) + w] = isd
            wk[_pt(_DRIFT, j) + w] = wk[_ln(_B) + w] * sh * t
            wk[_pt(_WR, j) + w] = wr
            wk[_pt(_WQ, j) + w] = wq
            wk[_pt(_WN, j) + w] = r * wr * INV_SQRT_2PI * isd
            wk[_pt(_WD1, j) + w] = q * wq * INV_SQRT_2PI * isd
            wk[_pt(_WD2, j) + w] = q * wq


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _interpolate_points_nb(sch, wk, squared):
    """Point row _H = the interpolant of (y - ln X)^2 (squared) or of y - ln X at every point.

    Sums run innermost over the NODES values, so the compiler unrolls them and the
    lane loop (loads, one store) vectorises; accumulating in the buffer instead
    leaves it scalar (the compiler cannot tell that the rows do not overlap).
    """
    for i in range(NODES):
        for w in range(LANES):
            g = wk[_nd(_Y, i) + w] - wk[_ln(_LX) + w]
            wk[_nd(_HN, i) + w] = select_nb(squared, g * g, g)
    for j in range(NQ):
        for w in range(LANES):
            acc = 0.0
            for k in range(NODES):
                acc += sch.mt[k, j] * wk[_nd(_HN, k) + w]
            wk[_pt(_H, j) + w] = acc


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _point_terms_nb(wk):
    """Per node-integral point: d+, its normal terms and 1/sqrt(h), then the integrand terms of N and D,
    their derivatives in lr, and those over sqrt(h).

    One pass: a second pass for the integrand terms, reading the point rows back, made
    the whole block 5-7% slower.
    """
    _point_terms_group(wk, POINT_GROUPS[0])
    _point_terms_group(wk, POINT_GROUPS[1])
    _point_terms_group(wk, POINT_GROUPS[2])
    _point_terms_group(wk, POINT_GROUPS[3])


@njit(cache=True, error_model="numpy", fastmath=_FM, inline="always")
def _point_terms_group(wk, group):
    """_point_terms_nb on one point group (constant bounds once inlined)."""
    first, end, points, offset = group
    for jj in range(points):
        for i in range(first, end):
            j = _gj(first, end, offset, jj, i)
            for w in range(LANES):
                h = wk[_pt(_H, j) + w]
                pos = h > 0.0
                sq = math.sqrt(select_nb(pos, h, 0.0))
                # ln(B(tau_i) / B(u)) + (r - q)(tau_i - u)
                lr = wk[_nd(_Y, i) + w] - wk[_ln(_LX) + w] + sq + wk[_pt(_DRIFT, j) + w]
                isd = wk[_pt(_ISD, j) + w]
                e1 = lr * isd + 0.5 * wk[_pt(_SD, j) + w]
                g1 = gauss_nb(e1)
                g2 = g1 * exp_nb(lr)  # exp(-d-^2 / 2)
                n1 = ncdf_from_gauss_nb(e1, g1)
                inv = select_nb(pos, 1.0 / sq, 0.0)
                wk[_pt(_E1, j) + w] = e1
                wk[_pt(_G1, j) + w] = g1
                wk[_pt(_G2, j) + w] = g2
                wk[_pt(_N1, j) + w] = n1
                wk[_pt(_INV, j) + w] = inv
                wd1 = wk[_pt(_WD1, j) + w]
                wd2 = wk[_pt(_WD2, j) + w]
                an = wk[_pt(_WN, j) + w] * g2
                dan = an * (1.0 - e1 * isd)
                dad = (wd2 * INV_SQRT_2PI - wd1 * e1) * g1 * isd
                wk[_pt(_AN, j) + w] = an
                wk[_pt(_AD, j) + w] = wd1 * g1 + wd2 * n1
                wk[_pt(_DAN, j) + w] = dan
                wk[_pt(_DAD, j) + w] = dad
                wk[_pt(_CAN, j) + w] = dan * inv
                wk[_pt(_CAD, j) + w] = dad * inv


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _node_terms_nb(sch, wk):
    """Each node's own terms of N and D (the u = tau_i end) and their derivatives in y_i."""
    for i in range(NODES):
        th = sch.tau_hat[i]
        st = sch.sqrt_tau_hat[i]
        for w in range(LANES):
            sdt = wk[_ln(_VT) + w] * st
            isdt = 1.0 / sdt
            d1 = (wk[_nd(_Y, i) + w] - wk[_ln(_LK) + w] + wk[_ln(_B) + w] * th * wk[_ln(_T) + w]) * isdt + 0.5 * sdt
            d2 = d1 - sdt
            g1 = gauss_nb(d1)
            p1 = INV_SQRT_2PI * g1
            p2 = INV_SQRT_2PI * gauss_nb(d2)
            wk[_nd(_NN, i) + w] = p2 * isdt
            wk[_nd(_DN, i) + w] = ncdf_from_gauss_nb(d1, g1) + p1 * isdt
            wk[_nd(_DNN, i) + w] = -d2 * p2 * isdt * isdt
            wk[_nd(_DDN, i) + w] = p1 * isdt * (1.0 - d1 * isdt)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _node_sums_nb(sch, wk):
    """F = y - ln K + (r-q) tau - ln N + ln D; rows _IN, _ID hold 1/N, 1/D; _SDAN, _SDAD the y_i slopes."""
    _node_sums_group(sch, wk, POINT_GROUPS[0])
    _node_sums_group(sch, wk, POINT_GROUPS[1])
    _node_sums_group(sch, wk, POINT_GROUPS[2])
    _node_sums_group(sch, wk, POINT_GROUPS[3])


@njit(cache=True, error_model="numpy", fastmath=_FM, inline="always")
def _node_sums_group(sch, wk, group):
    """_node_sums_nb on the nodes of one point group."""
    first, end, points, offset = group
    for i in range(first, end):
        th = sch.tau_hat[i]
        for w in range(LANES):
            num = wk[_nd(_NN, i) + w]
            den = wk[_nd(_DN, i) + w]
            dnum = wk[_nd(_DNN, i) + w]
            dden = wk[_nd(_DDN, i) + w]
            for jj in range(points):
                j = _gj(first, end, offset, jj, i)
                num += wk[_pt(_AN, j) + w]
                den += wk[_pt(_AD, j) + w]
                dnum += wk[_pt(_DAN, j) + w]
                dden += wk[_pt(_DAD, j) + w]
            wk[_nd(_F, i) + w] = (wk[_nd(_Y, i) + w] - wk[_ln(_LK) + w] + wk[_ln(_B) + w] * th * wk[_ln(_T) + w]
                                  - log_nb(num) + log_nb(den))
            wk[_nd(_IN, i) + w] = 1.0 / num
            wk[_nd(_ID, i) + w] = 1.0 / den
            wk[_nd(_SDAN, i) + w] = dnum
            wk[_nd(_SDAD, i) + w] = dden


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _jacobian_nb(sch, wk):
    """dF/dy: each node's own terms plus every point's coupling to every node value through interpolation.

    d(point term)/d y_k = d term/d lr * mt[k, j] (y_k - ln X) / sqrt(h).
    """
    _jacobian_group(sch, wk, POINT_GROUPS[0])
    _jacobian_group(sch, wk, POINT_GROUPS[1])
    _jacobian_group(sch, wk, POINT_GROUPS[2])
    _jacobian_group(sch, wk, POINT_GROUPS[3])


@njit(cache=True, error_model="numpy", fastmath=_FM, inline="always")
def _jacobian_group(sch, wk, group):
    """The Jacobian's rows of the nodes of one point group."""
    first, end, points, offset = group
    for i in range(first, end):
        for k in range(NODES):
            for w in range(LANES):
                cn = 0.0
                cd = 0.0
                for jj in range(points):
                    j = _gj(first, end, offset, jj, i)
                    m = sch.mt[k, j]
                    cn += wk[_pt(_CAN, j) + w] * m
                    cd += wk[_pt(_CAD, j) + w] * m
                dk = wk[_nd(_Y, k) + w] - wk[_ln(_LX) + w]
                wk[_mx(_JAC_BASE, i, k) + w] = (cd * wk[_nd(_ID, i) + w] - cn * wk[_nd(_IN, i) + w]) * dk
        for w in range(LANES):
            wk[_mx(_JAC_BASE, i, i) + w] += 1.0 - (wk[_nd(_SDAN, i) + w] * wk[_nd(_IN, i) + w]
                                                   - wk[_nd(_SDAD, i) + w] * wk[_nd(_ID, i) + w])


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _collocation_nb(sch, wk):
    """F(y) into node row _F and the Jacobian dF/dy at _JAC_BASE, for every lane."""
    _interpolate_points_nb(sch, wk, True)
    _point_terms_nb(wk)
    _node_terms_nb(sch, wk)
    _node_sums_nb(sch, wk)
    _jacobian_nb(sch, wk)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _lu_nb(wk):
    """Unpivoted LU at _JAC_BASE of every lane in place, diagonal stored inverted.

    Pivoting is not needed: over the benchmark sets the growth factor of these
    Jacobians without it is at most 1.04.  A lane with _DONE set (accepted trial)
    that meets a pivot below PIVOT_MIN anyway loses _GOOD.
    """
    nl = _lanes(wk)
    for c in range(NODES):
        for w in range(nl):
            p = wk[_mx(_JAC_BASE, c, c) + w]
            bad = _flag(wk, _DONE, w) & (abs(p) <= PIVOT_MIN)
            wk[_ln(_GOOD) + w] = select_nb(bad, 0.0, wk[_ln(_GOOD) + w])
            wk[_mx(_JAC_BASE, c, c) + w] = 1.0 / p
        for r in range(c + 1, NODES):
            for w in range(nl):
                wk[_mx(_JAC_BASE, r, c) + w] *= wk[_mx(_JAC_BASE, c, c) + w]
            for k in range(c + 1, NODES):
                for w in range(nl):
                    wk[_mx(_JAC_BASE, r, k) + w] -= wk[_mx(_JAC_BASE, r, c) + w] * wk[_mx(_JAC_BASE, c, k) + w]


@njit(cache=True, error_model="numpy", fastmath=_FM, inline="always")
def _lu_solve_nb(wk, base, row):
    """Solve every lane's (LU at base) x = b in place, b in node row `row`.

    Each entry's sum runs innermost, in a register, over a runtime lane count (_lanes).
    """
    nl = _lanes(wk)
    for r in range(1, NODES):
        for w in range(nl):
            acc = wk[_nd(row, r) + w]
            for k in range(r):
                acc -= wk[_mx(base, r, k) + w] * wk[_nd(row, k) + w]
            wk[_nd(row, r) + w] = acc
    for r in range(NODES - 1, -1, -1):
        for w in range(nl):
            acc = wk[_nd(row, r) + w]
            for k in range(r + 1, NODES):
                acc -= wk[_mx(base, r, k) + w] * wk[_nd(row, k) + w]
            wk[_nd(row, r) + w] = acc * wk[_mx(base, r, r) + w]


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _newton_nb(sch, wk, fresh):
    """Solve every lane's collocation equations by damped Newton; lane row _GOOD = converged.

    fresh: start every lane; otherwise only the lanes with _ACTIVE set (the others stay as
    they are, frozen).

    Each step evaluates F and J at the lane's trial point.  The trial is accepted
    when the residual sum of squares fell (Armijo, 1e-4); the next Newton step is
    then taken from it, limited to a trust region in g = ln X - y (g/2 <= g_new <= 2g:
    near tau = 0 F is steep in y and a full step can overshoot).  Otherwise the lane
    backtracks: half its previous step from the last accepted point.  A lane whose
    Newton step from an accepted point is below NEWTON_TOL takes that step and is
    frozen, so the other lanes of its block cannot move it.
    """
    for w in range(LANES):
        start = fresh or _flag(wk, _ACTIVE, w)
        wk[_ln(_GOOD) + w] = select_nb(start, 1.0, wk[_ln(_GOOD) + w])
        wk[_ln(_ACTIVE) + w] = select_nb(start, 1.0, 0.0)
        wk[_ln(_RES) + w] = math.inf
        wk[_ln(_LAM) + w] = 1.0
        wk[_ln(_EVALS) + w] = select_nb(start, 0.0, wk[_ln(_EVALS) + w])
    for i in range(NODES):
        for w in range(LANES):
            wk[_nd(_YP, i) + w] = wk[_nd(_Y, i) + w]
            wk[_nd(_DP, i) + w] = 0.0
    for _ in range(NEWTON_MAX_STEPS):
        _collocation_nb(sch, wk)
        for w in range(LANES):
            wk[_ln(_STEP) + w] = 0.0  # first the trial's residual sum of squares
        for i in range(NODES):
            for w in range(LANES):
                f = wk[_nd(_F, i) + w]
                wk[_ln(_STEP) + w] += f * f
                wk[_nd(_RHS0, i) + w] = -f
        for w in range(LANES):
            wk[_ln(_EVALS) + w] += wk[_ln(_ACTIVE) + w]
            res = wk[_ln(_STEP) + w]
            lam = wk[_ln(_LAM) + w]
            active = _flag(wk, _ACTIVE, w)
            accept = res <= (1.0 - 1e-4 * lam) * wk[_ln(_RES) + w]
            failed = active & ~accept & (lam < LAM_MIN)
            wk[_ln(_GOOD) + w] = select_nb(failed, 0.0, wk[_ln(_GOOD) + w])
            # "accepted" until the convergence test below; never set for a frozen lane, so
            # nothing below (pivots, NaN steps) can touch a lane that has converged
            wk[_ln(_DONE) + w] = select_nb(accept & active, 1.0, 0.0)
            wk[_ln(_RES) + w] = select_nb(accept, res, wk[_ln(_RES) + w])
            wk[_ln(_LAM) + w] = select_nb(accept, 1.0, 0.5 * lam)
            wk[_ln(_STEP) + w] = select_nb(accept, 0.0, math.inf)  # then the largest Newton step
        _lu_nb(wk)
        _lu_solve_nb(wk, _JAC_BASE, _RHS0)
        for i in range(NODES):
            for w in range(LANES):
                accept = _flag(wk, _DONE, w)
                y = wk[_nd(_Y, i) + w]
                d = wk[_nd(_RHS0, i) + w]
                d = select_nb(d > NEWTON_MAX_MOVE, NEWTON_MAX_MOVE, d)
                d = select_nb(d < -NEWTON_MAX_MOVE, -NEWTON_MAX_MOVE, d)
                g = wk[_ln(_LX) + w] - y
                d = select_nb(d > 0.5 * g, 0.5 * g, d)
                d = select_nb(d < -g, -g, d)
                move = abs(d)
                step = wk[_ln(_STEP) + w]
                wk[_ln(_STEP) + w] = select_nb(accept & (move > step), move, step)
                wk[_ln(_GOOD) + w] = select_nb(accept & (d != d), 0.0, wk[_ln(_GOOD) + w])
                back = wk[_nd(_YP, i) + w] + wk[_ln(_LAM) + w] * wk[_nd(_DP, i) + w]
                wk[_nd(_YP, i) + w] = select_nb(accept, y, wk[_nd(_YP, i) + w])
                wk[_nd(_DP, i) + w] = select_nb(accept, d, wk[_nd(_DP, i) + w])
                wk[_nd(_Y, i) + w] = select_nb(_flag(wk, _ACTIVE, w), select_nb(accept, y + d, back), y)
        remaining = 0.0
        for w in range(LANES):
            live = _flag(wk, _ACTIVE, w) & _flag(wk, _GOOD, w)
            converged = live & _flag(wk, _DONE, w) & (wk[_ln(_STEP) + w] <= NEWTON_TOL)
            still = live & ~converged
            wk[_ln(_ACTIVE) + w] = select_nb(still, 1.0, 0.0)
            wk[_ln(_DONE) + w] = select_nb(converged, 1.0, 0.0)
            remaining += wk[_ln(_ACTIVE) + w]
        if remaining == 0.0:
            break
    for w in range(LANES):
        wk[_ln(_GOOD) + w] = select_nb(_flag(wk, _ACTIVE, w), 0.0, wk[_ln(_GOOD) + w])


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _premium_nb(sch, wk, with_greeks):
    """Early-exercise premium, its spot delta and gamma into lane rows _PRICE, _DELTA, _GAMMA.

    With Greeks also its partials in (vol, r, q) at fixed node values (lane rows
    _DVOL, _DR, _DQ) and in each node value (node row _PY).
    """
    for i in range(NODES):
        for w in range(LANES):
            g = wk[_nd(_Y, i) + w] - wk[_ln(_LX) + w]
            wk[_nd(_HN, i) + w] = g * g
    for jp in range(PREMIUM_POINTS):
        for w in range(LANES):
            acc_h = 0.0
            acc_g = 0.0
            for k in range(NODES):
                m = sch.mtp[k, jp]
                acc_h += m * wk[_nd(_HN, k) + w]
                acc_g += m * (wk[_nd(_Y, k) + w] - wk[_ln(_LX) + w])
            wk[_pr(_PH, jp) + w] = acc_h
            wk[_pr(_PG, jp) + w] = acc_g
    for w in range(LANES):
        wk[_ln(_STEP) + w] = log_nb(wk[_ln(_S) + w]) - wk[_ln(_LX) + w]  # ln(S / X), scratch
    for jp in range(PREMIUM_POINTS):
        sh = sch.sp_hat[jp]
        rs = sch.sqrt_sp_hat[jp]
        for w in range(LANES):
            h = wk[_pr(_PH, jp) + w]
            pos = h > 0.0
            sq = math.sqrt(select_nb(pos, h, 0.0))
            sd = wk[_ln(_VT) + w] * rs
            # ln(S e^{(r-q)s} / B(u)), s = T - u
            x = wk[_ln(_STEP) + w] + sq + wk[_ln(_B) + w] * sh * wk[_ln(_T) + w]
            d1 = x / sd + 0.5 * sd
            g1 = gauss_nb(d1)
            g2 = g1 * exp_nb(x)
            wk[_pr(_PINV, jp) + w] = select_nb(pos, 1.0 / sq, 0.0)
            wk[_pr(_PLB, jp) + w] = wk[_ln(_LX) + w] - sq
            wk[_pr(_PD1, jp) + w] = d1
            wk[_pr(_PG2, jp) + w] = g2
            wk[_pr(_PN1, jp) + w] = ncdf_from_gauss_nb(-d1, g1)
            wk[_pr(_PN2, jp) + w] = ncdf_from_gauss_nb(sd - d1, g2)
    for jp in range(PREMIUM_POINTS):
        sh = sch.sp_hat[jp]
        wh = sch.wp_hat[jp]
        rs = sch.sqrt_sp_hat[jp]
        for w in range(LANES):
            spot = wk[_ln(_S) + w]
            strike = wk[_ln(_K) + w]
            r = wk[_ln(_R) + w]
            q = wk[_ln(_Q) + w]
            s = sh * wk[_ln(_T) + w]
            wt = wh * wk[_ln(_T) + w]
            sd = wk[_ln(_VT) + w] * rs
            df_r = exp_nb(-r * s)
            df_q = exp_nb(-q * s)
            bu = exp_nb(wk[_pr(_PLB, jp) + w])
            pdf2 = INV_SQRT_2PI * wk[_pr(_PG2, jp) + w]
            n1 = wk[_pr(_PN1, jp) + w]
            n2 = wk[_pr(_PN2, jp) + w]
            d1 = wk[_pr(_PD1, jp) + w]
            a_ss = df_r * pdf2 * (q * bu - r * strike)  # S sd times the density part of d f / d S
            a = a_ss / (spot * sd)
            wk[_pr(_PF, jp) + w] = wt * (r * strike * df_r * n2 - q * spot * df_q * n1)
            wk[_pr(_PFS, jp) + w] = wt * (a - q * df_q * n1)
            wk[_pr(_PFSS, jp) + w] = wt * (-a / spot * ((d1 - sd) / sd + 1.0) + q * bu * df_r * pdf2 / (spot * spot * sd))
            if not with_greeks:
                continue
            c = wk[_pr(_PG, jp) + w] * wk[_pr(_PINV, jp) + w]  # d ln B(u) / d ln X = 1 + c
            wk[_pr(_PFV, jp) + w] = wt * (-d1 * a_ss + q * bu * df_r * pdf2 * sd) / wk[_ln(_V) + w]
            wk[_pr(_PFR, jp) + w] = wt * (strike * df_r * (1.0 - r * s) * n2
                                          + a_ss * (s - (1.0 + c) * wk[_ln(_DXR) + w]) / sd)
            wk[_pr(_PFQ, jp) + w] = wt * (-spot * df_q * (1.0 - q * s) * n1
                                          + a_ss * (-s - (1.0 + c) * wk[_ln(_DXQ) + w]) / sd)
            wk[_pr(_PFY, jp) + w] = wt * a_ss / sd * wk[_pr(_PINV, jp) + w]  # times mtp (y_k - ln X)
    # the premium and its partials: premium rows _PF.._PFQ summed into lane rows _PRICE.._DQ
    for k in range(6 if with_greeks else 3):
        for w in range(LANES):
            acc = 0.0
            for jp in range(PREMIUM_POINTS):
                acc += wk[_pr(_PF + k, jp) + w]
            wk[_ln(_PRICE + k) + w] = acc
    if not with_greeks:
        return
    for k in range(NODES):
        for w in range(LANES):
            acc = 0.0
            for jp in range(PREMIUM_POINTS):
                acc += wk[_pr(_PFY, jp) + w] * sch.mtp[k, jp]
            wk[_nd(_PY, k) + w] = acc * (wk[_nd(_Y, k) + w] - wk[_ln(_LX) + w])


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _partials_nb(sch, wk):
    """-dF/d(vol, r, q) at fixed node values into node rows _RHS0.._RHS2, from a collocation evaluation there."""
    _interpolate_points_nb(sch, wk, False)  # G = sum_k mt (y_k - ln X); d sqrt(h)/d ln X = -G / sqrt(h)
    for j in range(NQ):
        sh = sch.s_hat[j]
        uh = sch.u_hat[j]
        for w in range(LANES):
            t = wk[_ln(_T) + w]
            r = wk[_ln(_R) + w]
            iv = 1.0 / wk[_ln(_V) + w]
            c = wk[_pt(_H, j) + w] * wk[_pt(_INV, j) + w]  # 0 where h was clipped
            sd = wk[_pt(_SD, j) + w]
            isd = wk[_pt(_ISD, j) + w]
            e1 = wk[_pt(_E1, j) + w]
            g2 = wk[_pt(_G2, j) + w]
            s = sh * t
            dlr_r = s - (1.0 + c) * wk[_ln(_DXR) + w]
            dlr_q = -s - (1.0 + c) * wk[_ln(_DXQ) + w]
            an = wk[_pt(_WN, j) + w] * g2
            wk[_pt(_AN, j) + w] = an * (-iv - e1 * (sd - e1) * iv)  # d an / d vol
            wk[_pt(_AD, j) + w] = (wk[_pt(_WR, j) + w] * (1.0 + r * uh * t) * INV_SQRT_2PI * isd * g2
                                   + an * dlr_r * (1.0 - e1 * isd))  # d an / d r
            wk[_pt(_DAN, j) + w] = an * dlr_q * (1.0 - e1 * isd)  # d an / d q
            g1 = wk[_pt(_G1, j) + w]
            wd1 = wk[_pt(_WD1, j) + w]
            wd2 = wk[_pt(_WD2, j) + w]
            slope = (wd2 * INV_SQRT_2PI - wd1 * e1) * g1  # d(wd1 g1 + wd2 n1) / d e1
            dq_w = wk[_pt(_WQ, j) + w] * (1.0 + wk[_ln(_Q) + w] * uh * t)  # d wd2 / d q
            wk[_pt(_DAD, j) + w] = -wd1 * g1 * iv + slope * (sd - e1) * iv  # d ad / d vol
            wk[_pt(_CAN, j) + w] = slope * dlr_r * isd  # d ad / d r
            wk[_pt(_CAD, j) + w] = dq_w * (INV_SQRT_2PI * isd * g1 + wk[_pt(_N1, j) + w]) + slope * dlr_q * isd
    for i in range(NODES):
        th = sch.tau_hat[i]
        st = sch.sqrt_tau_hat[i]
        for w in range(LANES):
            iv = 1.0 / wk[_ln(_V) + w]
            tau = th * wk[_ln(_T) + w]
            sdt = wk[_ln(_VT) + w] * st
            d1 = (wk[_nd(_Y, i) + w] - wk[_ln(_LK) + w] + wk[_ln(_B) + w] * tau) / sdt + 0.5 * sdt
            d2 = d1 - sdt
            p1 = INV_SQRT_2PI * gauss_nb(d1)
            nn = wk[_nd(_NN, i) + w]
            inum = wk[_nd(_IN, i) + w]
            iden = wk[_nd(_ID, i) + w]
            dd1 = (sdt - d1) * iv
            dnum = nn * (d2 * d1 * iv - iv)
            dden = p1 * dd1 + p1 / sdt * (-d1 * dd1 - iv)
            wk[_nd(_RHS0, i) + w] = dnum * inum - dden * iden
            dd1 = tau / sdt  # d d1 / d r = d d2 / d r = -(d d1 / d q)
            dnum = -nn * d2 * dd1
            dden = p1 * dd1 * (1.0 - d1 / sdt)
            wk[_nd(_RHS1, i) + w] = -tau + dnum * inum - dden * iden
            wk[_nd(_RHS2, i) + w] = tau - dnum * inum + dden * iden
    _partial_sums_group(wk, POINT_GROUPS[0])
    _partial_sums_group(wk, POINT_GROUPS[1])
    _partial_sums_group(wk, POINT_GROUPS[2])
    _partial_sums_group(wk, POINT_GROUPS[3])


@njit(cache=True, error_model="numpy", fastmath=_FM, inline="always")
def _partial_sums_group(wk, group):
    """Add the point terms of -dF/d(vol, r, q) to node rows _RHS0.._RHS2, for the nodes of one point group."""
    first, end, points, offset = group
    for i in range(first, end):
        for w in range(LANES):
            r0 = 0.0
            r1 = 0.0
            r2 = 0.0
            for jj in range(points):
                j = _gj(first, end, offset, jj, i)
                r0 += wk[_pt(_AN, j) + w] * wk[_nd(_IN, i) + w] - wk[_pt(_DAD, j) + w] * wk[_nd(_ID, i) + w]
                r1 += wk[_pt(_AD, j) + w] * wk[_nd(_IN, i) + w] - wk[_pt(_CAN, j) + w] * wk[_nd(_ID, i) + w]
                r2 += wk[_pt(_DAN, j) + w] * wk[_nd(_IN, i) + w] - wk[_pt(_CAD, j) + w] * wk[_nd(_ID, i) + w]
            wk[_nd(_RHS0, i) + w] += r0
            wk[_nd(_RHS1, i) + w] += r1
            wk[_nd(_RHS2, i) + w] += r2


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _solve_nb(sch, wk):
    """Newton from each lane's start (node row _Y); a lane that fails from a table or warm start
    is restarted from QD alone, as its own retry (the block's other lanes stay frozen).

    Near the kink of X at r = q with tiny r T, about 1 in 30,000 random boundaries stalls
    from the table start (Newton's damping cannot reduce the residual) and converges from
    QD alone.
    """
    _newton_nb(sch, wk, True)
    retry = 0.0
    has_table = sch.start_table.shape[1] > 0
    for w in range(LANES):
        again = ~_flag(wk, _GOOD, w) & (has_table | _flag(wk, _WARM, w))
        wk[_ln(_ACTIVE) + w] = select_nb(again, 1.0, 0.0)
        retry += wk[_ln(_ACTIVE) + w]
    if retry == 0.0:
        return
    for i in range(NODES):
        for w in range(LANES):
            wk[_nd(_YW, i) + w] = wk[_nd(_Y, i) + w]
    _qd_start_nb(sch, wk, False)
    for i in range(NODES):
        for w in range(LANES):
            wk[_nd(_Y, i) + w] = select_nb(_flag(wk, _ACTIVE, w), wk[_nd(_Y, i) + w], wk[_nd(_YW, i) + w])
    _newton_nb(sch, wk, False)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def put_block_nb(sch, wk, with_greeks):
    """Early-exercise premium of the block's puts (lane rows _S.._V set; r > 0, t > 0, vol > 0).

    Newton starts from QD plus the table, or for lanes marked by warm_lane_nb from the
    boundary given there (a nearby solution).  Leaves in the lane rows the premium and
    its delta and gamma and, with Greeks, its dV/d(vol, r, q) including the boundary's
    response; node row _Y holds each lane's boundary (ln B at the nodes, the last at T)
    and, with Greeks, node row _RHS0 its derivative in vol.  Lane row _GOOD is 0 where
    Newton failed: such lanes must be priced another way.
    """
    _setup_nb(wk)
    cold = 0.0
    for w in range(LANES):
        cold += 1.0 - wk[_ln(_WARM) + w]
    if cold > 0.0:
        _qd_start_nb(sch, wk, True)
    for i in range(NODES):
        for w in range(LANES):
            wk[_nd(_Y, i) + w] = select_nb(_flag(wk, _WARM, w), wk[_nd(_YW, i) + w], wk[_nd(_Y, i) + w])
    _geometry_nb(sch, wk)
    _solve_nb(sch, wk)
    _premium_nb(sch, wk, with_greeks)
    if not with_greeks:
        return
    # linearise at the solution itself: one more evaluation there (the last Newton step moved
    # y by up to NEWTON_TOL, and linearising before it left Greeks off by up to 1e-4)
    _collocation_nb(sch, wk)
    for w in range(LANES):
        wk[_ln(_DONE) + w] = wk[_ln(_GOOD) + w]
    _lu_nb(wk)
    _partials_nb(sch, wk)
    for row in (_RHS0, _RHS1, _RHS2):
        _lu_solve_nb(wk, _JAC_BASE, row)
    for k in range(NODES):
        for w in range(LANES):
            py = wk[_nd(_PY, k) + w]
            wk[_ln(_DVOL) + w] += py * wk[_nd(_RHS0, k) + w]
            wk[_ln(_DR) + w] += py * wk[_nd(_RHS1, k) + w]
            wk[_ln(_DQ) + w] += py * wk[_nd(_RHS2, k) + w]


# --- tree fallback (double boundary, or a lane whose Newton failed) --------------------------------------------------
@njit(cache=True, error_model="numpy", fastmath=_FM)
def _tree_put_nb(spot, strike, t, r, q, vol, steps):
    """Binomial (CRR) put with a Black-Scholes last step; any r, q (double boundary included)."""
    dt = t / steps
    up = math.exp(vol * math.sqrt(dt))
    down = 1.0 / up
    pu = (math.exp((r - q) * dt) - down) / (up - down)
    disc = math.exp(-r * dt)
    values = np.empty(steps)
    for j in range(steps):
        node = spot * up ** (2 * j - (steps - 1))
        euro = bs_scalar_call_nb(False, node, strike, dt, r, q, vol)[0]
        values[j] = max(euro, strike - node)
    for n in range(steps - 2, -1, -1):
        for j in range(n + 1):
            node = spot * up ** (2 * j - n)
            values[j] = max(disc * (pu * values[j + 1] + (1.0 - pu) * values[j]), strike - node)
    return values[0]


@njit(cache=True, error_model="numpy", fastmath=_FM)
def tree_put_price_nb(spot, strike, t, r, q, vol):
    """Richardson-extrapolated binomial put, 2 V(2N) - V(N)."""
    return 2.0 * _tree_put_nb(spot, strike, t, r, q, vol, 2 * TREE_STEPS) - _tree_put_nb(spot, strike, t, r, q, vol,
                                                                                         TREE_STEPS)


@njit(inline="always")
def as_put_nb(is_call, spot, strike, rate, q):
    """(spot, strike, rate, q) of the put worth the same as the option: C(S, K, r, q) = P(K, S, q, r)."""
    if is_call:
        return strike, spot, q, rate
    return spot, strike, rate, q


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _tree_option_nb(is_call, spot, strike, t, rate, q, vol, with_greeks):
    """Tree price (and bump-and-reprice Greeks) of any American option via put-call symmetry."""
    ps, pk, pr, pq = as_put_nb(is_call, spot, strike, rate, q)
    price = tree_put_price_nb(ps, pk, t, pr, pq, vol)
    nan = math.nan
    if not with_greeks:
        return price, nan, nan, nan, nan, nan
    h = 1e-3 * spot
    if is_call:
        up = tree_put_price_nb(ps, spot + h, t, pr, pq, vol)
        dn = tree_put_price_nb(ps, spot - h, t, pr, pq, vol)
        r_up = tree_put_price_nb(ps, pk, t, pr, pq + RATE_BUMP, vol)
        r_dn = tree_put_price_nb(ps, pk, t, pr, pq - RATE_BUMP, vol)
    else:
        up = tree_put_price_nb(spot + h, pk, t, pr, pq, vol)
        dn = tree_put_price_nb(spot - h, pk, t, pr, pq, vol)
        r_up = tree_put_price_nb(ps, pk, t, pr + RATE_BUMP, pq, vol)
        r_dn = tree_put_price_nb(ps, pk, t, pr - RATE_BUMP, pq, vol)
    hv = min(VOL_BUMP, 0.5 * vol)
    ht = min(TIME_BUMP, 0.5 * t)
    vega = (tree_put_price_nb(ps, pk, t, pr, pq, vol + hv) - tree_put_price_nb(ps, pk, t, pr, pq, vol - hv)) / (2 * hv)
    theta = -(tree_put_price_nb(ps, pk, t + ht, pr, pq, vol) - tree_put_price_nb(ps, pk, t - ht, pr, pq, vol)) / (2 * ht)
    return (price, (up - dn) / (2.0 * h), (up - 2.0 * price + dn) / (h * h), theta, vega,
            (r_up - r_dn) / (2.0 * RATE_BUMP))


# --- options the boundary solver does not take -----------------------------------------------------
@njit(cache=True, error_model="numpy", fastmath=_FM)
def special_case_nb(is_call, spot, strike, t, rate, q, vol, with_greeks):
    """(handled, price, delta, gamma, theta, vega, rho) of options that need no boundary solve.

    Invalid inputs, no early exercise, expiry, zero vol, the double-boundary tree, spot
    clearly in the exercise region, and a premium provably below NEGLIGIBLE_PREMIUM K.
    """
    nan = math.nan
    if not (spot > 0.0 and strike > 0.0 and vol >= 0.0 and math.isfinite(spot) and math.isfinite(strike)
            and math.isfinite(rate) and math.isfinite(q) and math.isfinite(vol) and t == t):
        return True, nan, nan, nan, nan, nan, nan
    put_spot, put_strike, put_r, put_q = as_put_nb(is_call, spot, strike, rate, q)
    if put_r <= 0.0 and put_q >= put_r:
        # early exercise never optimal: the European price and Greeks are exact
        p, de, ga, th, ve, rh = bs_scalar_call_nb(is_call, spot, strike, t, rate, q, vol)
        return True, p, de, ga, th, ve, rh
    if t <= 0.0 or vol == 0.0:
        # expiry: intrinsic; zero vol: the European deterministic limit (early exercise along
        # a deterministic path is not modelled; documented)
        p, de, ga, th, ve, rh = bs_scalar_call_nb(is_call, spot, strike, t, rate, q, vol)
        intrinsic = max(spot - strike, 0.0) if is_call else max(strike - spot, 0.0)
        return True, max(p, intrinsic), de, ga, th, ve, rh
    if put_r <= 0.0:
        p, de, ga, th, ve, rh = _tree_option_nb(is_call, spot, strike, t, rate, q, vol, with_greeks)
        return True, p, de, ga, th, ve, rh
    if put_spot <= _perpetual_put_boundary_nb(put_strike, put_r, put_q, vol) * (1.0 - EXERCISE_MARGIN):
        # below the perpetual boundary, hence below B(T): exercised, as the solve would find
        return True, abs(spot - strike), 1.0 if is_call else -1.0, 0.0, 0.0, 0.0, 0.0
    if _premium_bound_nb(put_spot, put_strike, t, put_r, put_q, vol) < NEGLIGIBLE_PREMIUM * put_strike:
        p, de, ga, th, ve, rh = bs_scalar_call_nb(is_call, spot, strike, t, rate, q, vol)
        return True, p, de, ga, th, ve, rh
    return False, nan, nan, nan, nan, nan, nan


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _perpetual_put_boundary_nb(strike, r, q, vol):
    """Exercise boundary of the perpetual put, K lambda / (lambda - 1) (lambda < 0): a lower bound of B(tau)."""
    v2 = vol * vol
    b = r - q - 0.5 * v2
    lam = (-b - math.sqrt(b * b + 2.0 * v2 * r)) / v2
    return strike * lam / (lam - 1.0)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _premium_bound_nb(spot, strike, t, r, q, vol):
    """An upper bound of the put's early-exercise premium (0 < r; inf if spot is not above X).

    premium = int_0^T [r K e^{-rs} N(-d-(S/B, s)) - q S e^{-qs} N(-d+(S/B, s))] ds with the
    boundary B <= X = K min(1, r/q), and N(-d(S/B, s)) grows with B; so the premium is at most
    T (r K N(-min d-) + max(-q, 0) S e^{|q| T} N(-min d+)), minima over s in (0, T] of
    d(S/X, s) = (a + c s) / (vol sqrt(s)), a = ln(S/X) > 0: at s = a/c if c > 0 and a/c < T, else at T.
    """
    x = strike * min(1.0, r / q) if q > 0.0 else strike
    a = math.log(spot / x)
    if not a > 0.0:
        return math.inf
    c2 = r - q - 0.5 * vol * vol
    c1 = c2 + vol * vol
    s2 = min(a / c2, t) if c2 > 0.0 else t
    s1 = min(a / c1, t) if c1 > 0.0 else t
    d2 = (a + c2 * s2) / (vol * math.sqrt(s2))
    d1 = (a + c1 * s1) / (vol * math.sqrt(s1))
    carry = max(-q, 0.0)
    return t * (r * strike * ncdf_nb(-d2) + carry * spot * math.exp(carry * t) * ncdf_nb(-d1))


@njit(cache=True, error_model="numpy", fastmath=_FM)
def load_lane_nb(wk, w, is_call, spot, strike, t, rate, q, vol):
    """Put the option into lane w as a put: C(S, K, r, q) = P(K, S, q, r)."""
    wk[_ln(_S) + w], wk[_ln(_K) + w], wk[_ln(_R) + w], wk[_ln(_Q) + w] = as_put_nb(is_call, spot, strike, rate, q)
    wk[_ln(_T) + w] = t
    wk[_ln(_V) + w] = vol
    wk[_ln(_WARM) + w] = 0.0


@njit(cache=True, error_model="numpy", fastmath=_FM)
def warm_lane_nb(wk, w, y_start):
    """Start lane w's Newton from y_start (ln B at the nodes) instead of QD; call after load_lane_nb."""
    wk[_ln(_WARM) + w] = 1.0
    for i in range(NODES):
        wk[_nd(_YW, i) + w] = y_start[i]


@njit(cache=True, error_model="numpy", fastmath=_FM)
def lane_boundary_nb(wk, w, y_out, dy_out, with_greeks):
    """Copy lane w's boundary (ln B at the nodes) and, if priced with Greeks, its vol derivative out of the block."""
    for i in range(NODES):
        y_out[i] = wk[_nd(_Y, i) + w]
        if with_greeks:
            dy_out[i] = wk[_nd(_RHS0, i) + w]


@njit(cache=True, error_model="numpy", fastmath=_FM)
def lane_converged_nb(wk, w):
    """Whether lane w's Newton converged in the last put_block_nb."""
    return _flag(wk, _GOOD, w)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def lane_value_nb(wk, w, is_call, spot, strike, t, rate, q, vol, with_greeks):
    """(price, delta, gamma, theta, vega, rho) of the option in lane w after put_block_nb (tree if Newton failed)."""
    if _flag(wk, _GOOD, w):
        return _finish_lane_nb(wk, w, is_call, rate, q, with_greeks)
    return _tree_option_nb(is_call, spot, strike, t, rate, q, vol, with_greeks)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _finish_lane_nb(wk, w, is_call, rate, q, with_greeks):
    """(price, delta, gamma, theta, vega, rho) of the option in lane w from the block's premium and boundary."""
    ps = wk[_ln(_S) + w]
    pk = wk[_ln(_K) + w]
    t = wk[_ln(_T) + w]
    vol = wk[_ln(_V) + w]
    nan = math.nan
    if math.log(ps) <= wk[_nd(_Y, NODES - 1) + w]:  # spot in the exercise region at T
        p, de, ga, vv, v_r, v_q = pk - ps, -1.0, 0.0, 0.0, 0.0, 0.0
    else:
        eu_p, eu_d, eu_g, _, eu_v, eu_r = bs_scalar_call_nb(False, ps, pk, t, wk[_ln(_R) + w], wk[_ln(_Q) + w], vol)
        p = max(eu_p + wk[_ln(_PRICE) + w], pk - ps)
        de = eu_d + wk[_ln(_DELTA) + w]
        ga = eu_g + wk[_ln(_GAMMA) + w]
        vv = eu_v + wk[_ln(_DVOL) + w]
        v_r = eu_r + wk[_ln(_DR) + w]
        v_q = -t * ps * eu_d + wk[_ln(_DQ) + w]  # dV/dq of a European: -t S delta
    if is_call:
        # C(S, K, r, q) = P(K, S, q, r) with P homogeneous in (spot, strike)
        de, ga = (p - ps * de) / pk, ps * ps * ga / (pk * pk)
        v_r, v_q = v_q, v_r
    if not with_greeks:
        return p, de, ga, nan, nan, nan
    theta = -(rate * v_r + q * v_q + 0.5 * vol * vv) / t
    return p, de, ga, theta, vv, v_r


@njit(cache=True, error_model="numpy", fastmath=_FM, parallel=True)
def american_greeks_nb(is_call, spot, strike, t, rate, q, vol, sch, with_greeks, out):
    """Fill out[0..5, i] with American price, delta, gamma, theta, vega, rho (1-D inputs).

    Without Greeks out[3..5] are NaN (delta and gamma come free with the price).
    """
    n = spot.shape[0]
    boundary = np.zeros(n, dtype=np.bool_)
    for i in prange(n):
        handled, p, de, ga, th, ve, rh = special_case_nb(is_call[i], spot[i], strike[i], t[i], rate[i], q[i], vol[i],
                                                          with_greeks)
        boundary[i] = not handled
        out[0, i] = p
        out[1, i] = de
        out[2, i] = ga
        out[3, i] = th
        out[4, i] = ve
        out[5, i] = rh
    idx = np.flatnonzero(boundary)
    m = idx.shape[0]
    # a block's options share their Newton steps: order them by start-table cell, so that
    # options whose starts are alike (and need alike numbers of steps) share blocks
    cell = np.empty(m)
    for j in prange(m):
        o = idx[j]
        put_r, put_q = as_put_nb(is_call[o], spot[o], strike[o], rate[o], q[o])[2:]
        cell[j] = _table_cell_nb(t[o], put_r, put_q, vol[o])
    idx = idx[np.argsort(cell, kind="mergesort")]
    nblocks = (m + LANES - 1) // LANES
    nchunks, first = block_chunks_nb()
    for c in prange(nchunks):
        if first[c] >= nblocks:
            continue
        wk = block_work_nb()
        for b in range(first[c], nblocks, nchunks):
            for w in range(LANES):
                o = idx[min(b * LANES + w, m - 1)]  # the last block is padded with its last option
                load_lane_nb(wk, w, is_call[o], spot[o], strike[o], t[o], rate[o], q[o], vol[o])
            put_block_nb(sch, wk, with_greeks)
            for w in range(min(LANES, m - b * LANES)):
                o = idx[b * LANES + w]
                res = lane_value_nb(wk, w, is_call[o], spot[o], strike[o], t[o], rate[o], q[o], vol[o], with_greeks)
                for k in range(6):
                    out[k, o] = res[k]


@njit(cache=True, error_model="numpy", fastmath=_FM, parallel=True)
def solve_boundaries_nb(sch, t, r, q, vol, start, solution, evals):
    """Boundaries of puts (strike 1, r > 0): start and solution = y - ln X at the nodes; evals[o] = collocation
    evaluations Newton needed, or -1 where it failed.  For the start table and for tests."""
    m = t.shape[0]
    nblocks = (m + LANES - 1) // LANES
    for b in prange(nblocks):
        wk = block_work_nb()
        for w in range(LANES):
            o = min(b * LANES + w, m - 1)
            load_lane_nb(wk, w, False, 1.0, 1.0, t[o], r[o], q[o], vol[o])
        _setup_nb(wk)
        _qd_start_nb(sch, wk, True)
        for w in range(min(LANES, m - b * LANES)):
            for i in range(NODES):
                start[b * LANES + w, i] = wk[_nd(_Y, i) + w] - wk[_ln(_LX) + w]
        _geometry_nb(sch, wk)
        _solve_nb(sch, wk)
        for w in range(min(LANES, m - b * LANES)):
            o = b * LANES + w
            evals[o] = wk[_ln(_EVALS) + w] if _flag(wk, _GOOD, w) else -1.0
            for i in range(NODES):
                solution[o, i] = wk[_nd(_Y, i) + w] - wk[_ln(_LX) + w]
