"""The American kernel's scheme: quadrature constants and the Newton-start table, built once per process.

The start table holds, for r >= q and r < q separately and on each side's grid (_grid), the
difference between the collocation solution and the QD boundary at every node, in units of
vol sqrt T.  It is computed by the kernel itself from QD starts (about 100,000 boundary
solves, ~0.5 s on two cores) and only moves the Newton start: prices do not depend on it
beyond Newton's tolerance.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import american_nb as nb

RATIO_FLOOR = 1e-3


def _grid(side: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vol sqrt T, r T, q T) of the table's grid points for one side (+1: r >= q, -1: r < q), on its axes.

    r >= q: ln(vol sqrt T), ln((r - q) T / vol sqrt T + TABLE_EPS), ln(r T / vol sqrt T);
    r < q: ln(vol sqrt T), ln(q T / vol sqrt T), kink_axis(r / q), whose face r / q = 0 (no
    boundary: r = 0) holds the solution at r / q = RATIO_FLOOR.
    """
    k = 0 if side > 0 else 1
    axes = [np.linspace(lo, hi, n) for lo, hi, n in zip(nb.TABLE_LO[k], nb.TABLE_HI[k], nb.TABLE_SHAPE)]
    a, e, c = (x.ravel() for x in np.meshgrid(*axes, indexing="ij"))
    vt = np.exp(a)
    if side > 0:
        rt = np.exp(c) * vt
        return vt, rt, rt - np.maximum(np.exp(e) - nb.TABLE_EPS, 0.0) * vt
    qt = np.exp(e) * vt
    lo, hi = np.zeros_like(c), np.ones_like(c)
    for _ in range(60):  # invert the increasing kink_axis by bisection
        mid = 0.5 * (lo + hi)
        below = nb.kink_axis(mid) < c
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return vt, np.maximum(0.5 * (lo + hi), RATIO_FLOOR) * qt, qt


def _fill_failed(values: np.ndarray, failed: np.ndarray) -> np.ndarray:
    """Replace failed grid cells by the mean of their filled neighbours, sweeping until none are left."""
    values = values.copy()
    failed = failed.copy()
    while failed.any():
        total = np.zeros(values.shape)
        count = np.zeros(failed.shape)
        for axis in range(3):
            for shift in (1, -1):
                good = np.roll(~failed, shift, axis=axis)
                edge = [slice(None)] * 3
                edge[axis] = slice(0, 1) if shift == 1 else slice(-1, None)
                good[tuple(edge)] = False  # np.roll wraps around; the far edge is not a neighbour
                total += np.where(good[..., None], np.roll(values, shift, axis=axis), 0.0)
                count += good
        grow = failed & (count > 0)
        values[grow] = total[grow] / count[grow][:, None]
        failed &= ~grow
    return values


def build_start_table(sch: nb.AmericanScheme) -> np.ndarray:
    """(2, *TABLE_SHAPE, NODES) corrections to the QD start, computed with the kernel."""
    tables = []
    for side in (1.0, -1.0):
        vt, rt, qt = _grid(side)
        n = vt.size
        start = np.empty((n, nb.NODES))
        solution = np.empty((n, nb.NODES))
        evals = np.empty(n)
        nb.solve_boundaries_nb(sch, np.ones(n), rt, qt, vt, start, solution, evals)
        corr = (solution - start) / vt[:, None]
        failed = ~((evals > 0) & np.isfinite(corr).all(axis=1))
        corr[failed] = 0.0
        shape = nb.TABLE_SHAPE
        tables.append(_fill_failed(corr.reshape(*shape, nb.NODES), failed.reshape(shape)))
    table = np.ascontiguousarray(np.stack(tables))
    table.flags.writeable = False
    return table


@lru_cache(maxsize=1)
def american_scheme() -> nb.AmericanScheme:
    """The scheme every American pricing call uses (built on first use, then shared)."""
    base = nb.build_scheme()
    return base._replace(start_table=build_start_table(base))
