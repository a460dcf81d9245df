"""Vol surface summary: interpolation by hand, realised vol by hand, sources per day."""

import math
from datetime import date, datetime, timezone

import numpy as np
import polars as pl
import pytest

from pipeline.market import embedded
from pipeline.pricing import surface

DAY = date(2026, 10, 6)


def _points(rows: list[tuple[float, float, str, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"t_years": pl.Float64, "moneyness": pl.Float64,
                                      "option_right": pl.Utf8, "iv": pl.Float64, "delta": pl.Float64},
                        orient="row").with_columns(date=pl.lit(DAY))


def test_atm_and_term_interpolation_by_hand() -> None:
    """Expiry 1 (t=0.1): OTM put 0.98 iv 0.21, OTM call 1.02 iv 0.19 -> ATM in ln K/S:
    0.21 + (0.19-0.21) * 0.020203/(0.019803+0.020203) = 0.199900. Expiry 2 (t=0.3): 0.30 both sides.
    60 days (t=0.164384): w = 0.199900^2*0.1 + (0.09*0.3 - 0.003996)*(0.064384/0.2) = 0.0114014
    -> sqrt(0.0114014/0.164384) = 0.263360. 30 days (t=0.082192 < 0.1): flat -> 0.199900.
    365 days beyond the last expiry: flat -> 0.30."""
    points = _points([
        (0.1, 0.98, "P", 0.21, -0.4), (0.1, 1.02, "C", 0.19, 0.4),
        (0.1, 1.02, "P", 0.50, -0.6),  # ITM: ignored for ATM
        (0.3, 0.98, "P", 0.30, -0.45), (0.3, 1.02, "C", 0.30, 0.45),
    ])
    got = surface.surface_from_points(points).row(0, named=True)
    assert got["atm_iv_30d"] == pytest.approx(0.199900, abs=2e-6)
    assert got["atm_iv_60d"] == pytest.approx(0.263360, abs=2e-6)
    assert got["atm_iv_365d"] == pytest.approx(0.30)
    assert (got["expiries_used"], got["min_tenor_days"], got["max_tenor_days"]) == (2, 36, 110)  # 0.1*365 = 36.5 rounds half to even


def test_25_delta_put_by_hand() -> None:
    """Puts at delta -0.20 (iv 0.30) and -0.30 (iv 0.26): 25-delta put iv 0.28, at one expiry of
    exactly 30 days; ATM from the 1.00 strike 0.24 -> skew 0.04."""
    t = 30 / 365
    points = _points([(t, 0.95, "P", 0.30, -0.20), (t, 0.97, "P", 0.26, -0.30),
                      (t, 1.0, "P", 0.24, -0.48), (t, 1.0, "C", 0.24, 0.52)])
    got = surface.surface_from_points(points).row(0, named=True)
    assert got["put_25d_iv_30d"] == pytest.approx(0.28)
    assert got["put_skew_25d_30d"] == pytest.approx(0.04)


def test_short_expiries_are_left_out() -> None:
    points = _points([(3 / 365, 1.0, "P", 0.9, -0.5), (3 / 365, 1.0, "C", 0.9, 0.5),
                      (0.25, 1.0, "P", 0.2, -0.5), (0.25, 1.0, "C", 0.2, 0.5)])
    assert surface.surface_from_points(points)["atm_iv_30d"].item() == pytest.approx(0.2)


def test_realised_vol_by_hand() -> None:
    prices = embedded.load_prices("GLD", datetime(2026, 10, 7, tzinfo=timezone.utc))
    hv = surface.realised_vols(prices)
    closes = prices.filter(pl.col("date") <= date(2020, 3, 20))["close"].to_numpy()
    for window in (20, 60, 252):
        returns = np.diff(np.log(closes[-(window + 1):]))
        expected = returns.std(ddof=1) * math.sqrt(252)
        got = hv.filter(pl.col("date") == date(2020, 3, 20))[f"hv{window}"].item()
        assert got == pytest.approx(expected, rel=1e-12)
    assert hv["hv252"].head(252).is_null().all()


def test_chain_days_override_synthetic_and_vrp() -> None:
    """Synthetic days: ATM IV is the day's ATM vol (skew multiplier 1 at the money, flat term);
    the chain day takes its IV from the valuations, named in iv_source."""
    days = [date(2026, 10, 5), DAY]
    grid = [(d, t, m, r, 0.2 if d == days[0] else 0.25, -0.5 if r == "P" else 0.5)
            for d in days for t in (1 / 12, 0.25) for m in (0.95, 1.0, 1.05) for r in ("P", "C")]
    synthetic = pl.DataFrame(grid, schema=["date", "t_years", "moneyness", "option_right", "vol", "delta"],
                             orient="row").with_columns(atm_vol_source=pl.lit("gvz"))
    valuations = pl.DataFrame({
        "snapshot_date": [DAY] * 2, "t_years": [0.25] * 2, "moneyness": [1.0] * 2,
        "option_right": ["P", "C"], "iv": [0.3, 0.3], "delta": [-0.5, 0.5], "iv_reason": [0, 0],
        "flag_crossed": [False] * 2, "flag_zero_bid": [False] * 2, "source": ["model"] * 2})
    closes = 100 * np.exp(np.cumsum(np.r_[0, np.tile([0.01, -0.01], 15)]))
    prices = pl.DataFrame({"date": pl.date_range(date(2026, 8, 25), date(2026, 10, 6), eager=True)
                           .filter(pl.date_range(date(2026, 8, 25), date(2026, 10, 6), eager=True)
                                   .dt.weekday() <= 5)[-31:], "close": closes})
    out = surface.vol_surface_daily(valuations, synthetic, prices)
    first, last = out.row(0, named=True), out.row(1, named=True)
    assert (first["iv_source"], first["atm_iv_30d"]) == ("synthetic", pytest.approx(0.2))
    assert (last["iv_source"], last["atm_iv_30d"]) == ("chain:model", pytest.approx(0.3))
    assert last["atm_vol_source"] == "gvz"
    # alternating +-1 % log returns: sample std over 20 returns = 0.01*sqrt(20/19)
    assert last["hv20"] == pytest.approx(0.01 * math.sqrt(20 / 19) * math.sqrt(252))
    assert last["vrp_30d_20d"] == pytest.approx(0.3 / last["hv20"])
