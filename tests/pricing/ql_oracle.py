"""QuantLib oracle shared by the tests and the golden-file generator (needs QuantLib).

Quotes and curve handles are built once and relinked per option, so 10,000
options price in a few seconds.  Maturity dates are today + days with
Actual365Fixed and continuous compounding, so QuantLib's t is exactly days/365.
"""

from __future__ import annotations

import numpy as np
import QuantLib as ql

TODAY = ql.Date(15, ql.January, 2025)


class Oracle:
    """European/American pricer on flat continuous curves, one option at a time."""

    def __init__(self) -> None:
        ql.Settings.instance().evaluationDate = TODAY
        dc = ql.Actual365Fixed()
        self.spot = ql.SimpleQuote(100.0)
        self.rate = ql.SimpleQuote(0.0)
        self.div = ql.SimpleQuote(0.0)
        self.vol = ql.SimpleQuote(0.2)
        rts = ql.YieldTermStructureHandle(ql.FlatForward(TODAY, ql.QuoteHandle(self.rate), dc, ql.Continuous))
        qts = ql.YieldTermStructureHandle(ql.FlatForward(TODAY, ql.QuoteHandle(self.div), dc, ql.Continuous))
        vts = ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(TODAY, ql.NullCalendar(), ql.QuoteHandle(self.vol), dc)
        )
        self.process = ql.BlackScholesMertonProcess(ql.QuoteHandle(self.spot), qts, rts, vts)
        self.european_engine = ql.AnalyticEuropeanEngine(self.process)
        self.qdfp_engine = ql.QdFpAmericanEngine(self.process, ql.QdFpAmericanEngine.highPrecisionScheme())
        self.fd_engine = ql.FdBlackScholesVanillaEngine(self.process, 2000, 4000, 0, ql.FdmSchemeDesc.Douglas())

    def _set(self, spot: float, rate: float, q: float, vol: float) -> None:
        self.spot.setValue(float(spot))
        self.rate.setValue(float(rate))
        self.div.setValue(float(q))
        self.vol.setValue(float(vol))

    def european(self, is_call: bool, spot, strike, days: int, rate, q, vol) -> tuple[float, ...]:
        """(price, delta, gamma, theta, vega, rho) from AnalyticEuropeanEngine."""
        self._set(spot, rate, q, vol)
        payoff = ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, float(strike))
        opt = ql.VanillaOption(payoff, ql.EuropeanExercise(TODAY + int(days)))
        opt.setPricingEngine(self.european_engine)
        return opt.NPV(), opt.delta(), opt.gamma(), opt.theta(), opt.vega(), opt.rho()

    def american(self, is_call: bool, spot, strike, days: int, rate, q, vol) -> float:
        """American price: QdFp high-precision where it applies, else a fine FD grid.

        QdFp does not cover the double-boundary case (put with q < r < 0, call
        with r < q < 0); those go to FdBlackScholesVanillaEngine (2000 t x 4000 x).
        """
        self._set(spot, rate, q, vol)
        payoff = ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, float(strike))
        opt = ql.VanillaOption(payoff, ql.AmericanExercise(TODAY, TODAY + int(days)))
        put_r, put_q = (rate, q) if not is_call else (q, rate)
        double_boundary = put_r < 0.0 and put_q < put_r
        opt.setPricingEngine(self.fd_engine if double_boundary else self.qdfp_engine)
        return opt.NPV()


def random_cases(n: int, seed: int) -> dict[str, np.ndarray]:
    """The brief's random set: S=100, K 20..300, t 1 day..3 years (integer days), vol 3%..150%."""
    rng = np.random.default_rng(seed)
    days = rng.integers(1, 3 * 365 + 1, n)
    return {
        "is_call": rng.random(n) < 0.5,
        "spot": np.full(n, 100.0),
        "strike": rng.uniform(20.0, 300.0, n),
        "days": days,
        "t": days / 365.0,
        "rate": rng.uniform(0.0, 0.08, n),
        "q": rng.uniform(-0.02, 0.05, n),
        "vol": rng.uniform(0.03, 1.5, n),
    }


def hard_grid() -> dict[str, np.ndarray]:
    """Deep ITM/OTM strikes, 1..7 days, vol 3%, extreme rate/carry corners."""
    strikes = [20.0, 50.0, 80.0, 95.0, 99.0, 100.0, 101.0, 105.0, 120.0, 200.0, 300.0]
    rows = [
        (c, 100.0, k, d, r, q, 0.03)
        for c in (True, False)
        for k in strikes
        for d in range(1, 8)
        for r, q in ((0.0, -0.02), (0.08, 0.05), (0.08, -0.02), (0.0, 0.05), (0.04, 0.004))
    ]
    cols = list(zip(*rows))
    days = np.array(cols[3], dtype=np.int64)
    return {
        "is_call": np.array(cols[0], dtype=bool),
        "spot": np.array(cols[1]),
        "strike": np.array(cols[2]),
        "days": days,
        "t": days / 365.0,
        "rate": np.array(cols[4]),
        "q": np.array(cols[5]),
        "vol": np.array(cols[6]),
    }


def european_table(oracle: Oracle, cases: dict[str, np.ndarray]) -> np.ndarray:
    """QuantLib (6, n) array of price and Greeks for every case."""
    out = np.empty((6, cases["spot"].size))
    for i in range(cases["spot"].size):
        out[:, i] = oracle.european(
            bool(cases["is_call"][i]), cases["spot"][i], cases["strike"][i], int(cases["days"][i]),
            cases["rate"][i], cases["q"][i], cases["vol"][i],
        )
    return out


def american_prices(oracle: Oracle, cases: dict[str, np.ndarray]) -> np.ndarray:
    """QuantLib American prices for every case."""
    return np.array([
        oracle.american(
            bool(cases["is_call"][i]), cases["spot"][i], cases["strike"][i], int(cases["days"][i]),
            cases["rate"][i], cases["q"][i], cases["vol"][i],
        )
        for i in range(cases["spot"].size)
    ])
