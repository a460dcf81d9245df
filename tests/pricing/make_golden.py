"""Regenerate tests/fixtures/pricing_golden.json from QuantLib (run by hand, not collected by pytest).

    .venv/bin/python -m tests.pricing.make_golden

Cases: 120 seeded random options from the brief's ranges and 80 from the hard
grid (1-7 days, vol 3%, deep ITM/OTM, rate/carry corners including the
double-boundary put), plus implied-vol cases with the expected reason code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import QuantLib as ql

from .ql_oracle import Oracle, hard_grid, random_cases

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "pricing_golden.json"
FIELDS = ("is_call", "spot", "strike", "days", "t", "rate", "q", "vol")


def _pick(cases: dict[str, np.ndarray], idx: np.ndarray) -> list[dict]:
    return [
        {f: (bool(cases[f][i]) if f == "is_call" else int(cases[f][i]) if f == "days" else float(cases[f][i])) for f in FIELDS}
        for i in idx
    ]


def _well_posed(row: dict, price: float, american: bool) -> bool:
    """Time value above 1e-10 max(S, K) and a vega large enough that price rounding moves vol < 1e-12.

    American quotes also need an American vega >= 0.05 (QuantLib's and our American prices
    differ by up to 1e-4, so flatter quotes do not pin the vol down).
    """
    s, k, t, r, q = row["spot"], row["strike"], row["t"], row["rate"], row["q"]
    sign = 1.0 if row["is_call"] else -1.0
    if american:
        lower = max(sign * (s - k), 0.0)
    else:
        lower = max(sign * (s * np.exp(-q * t) - k * np.exp(-r * t)), 0.0)
    scale = max(s, k)
    vega = row["european"]["vega"]
    if american and row["american_vega"] < 0.05:
        return False
    return bool(price - lower > 1e-10 * scale and vega * 1e-12 >= 64 * np.finfo(float).eps * scale)


def main() -> None:
    oracle = Oracle()
    rand = random_cases(120, seed=20250115)
    grid = hard_grid()
    grid_idx = np.random.default_rng(7).choice(grid["spot"].size, 80, replace=False)
    rows = _pick(rand, np.arange(120)) + _pick(grid, np.sort(grid_idx))
    for row in rows:
        args = (row["is_call"], row["spot"], row["strike"], row["days"], row["rate"], row["q"], row["vol"])
        price, delta, gamma, theta, vega, rho = oracle.european(*args)
        row["european"] = {"price": price, "delta": delta, "gamma": gamma, "theta": theta, "vega": vega, "rho": rho}
        row["american_price"] = oracle.american(*args)
        bump = 1e-4
        up = oracle.american(*args[:-1], row["vol"] + bump)
        dn = oracle.american(*args[:-1], row["vol"] - bump)
        row["american_vega"] = (up - dn) / (2 * bump)
    # implied-vol cases: quote, inputs, expected vol (NaN -> null) and reason
    # "OK" when the quote carries identifiable time value (see _well_posed), else "ILL_POSED":
    # then any reason is accepted as long as NaN <=> reason != OK and an OK vol reprices.
    iv_cases = []
    for row in rows:
        for american in (False, True):
            price = row["american_price"] if american else row["european"]["price"]
            ok = _well_posed(row, price, american)
            iv_cases.append({**{f: row[f] for f in FIELDS if f != "vol"}, "price": price, "american": american,
                             "expected_vol": row["vol"], "reason": "OK" if ok else "ILL_POSED"})
    base = {"is_call": True, "spot": 100.0, "strike": 100.0, "days": 30, "t": 30 / 365, "rate": 0.03, "q": 0.004}
    ill = [
        ({"price": 0.5, "strike": 50.0}, "BELOW_INTRINSIC"),
        ({"price": 150.0}, "ABOVE_UPPER_BOUND"),
        ({"price": 2.0, "days": 0, "t": 0.0}, "EXPIRED"),
        ({"price": float("nan")}, "BAD_INPUT"),
        ({"price": 0.0}, "BAD_INPUT"),
        ({"price": 2.0, "spot": -1.0}, "BAD_INPUT"),
        ({"price": 2.0, "strike": 0.0}, "BAD_INPUT"),
    ]
    for change, reason in ill:
        for american in (False, True):
            iv_cases.append({**base, **change, "american": american, "expected_vol": None, "reason": reason})
    payload = {
        "generator": "tests/pricing/make_golden.py",
        "quantlib_version": ql.__version__,
        "conventions": "t = days/365 (Actual365Fixed), flat continuous curves, theta per year, vega/rho per 1.00",
        "american_engine": "QdFpAmericanEngine highPrecisionScheme; FdBlackScholesVanillaEngine(2000, 4000) for double-boundary cases",
        "cases": rows,
        "iv_cases": iv_cases,
    }
    OUT.write_text(json.dumps(payload, indent=1, allow_nan=True))
    print(f"wrote {len(rows)} cases and {len(iv_cases)} IV cases to {OUT}")


if __name__ == "__main__":
    main()
