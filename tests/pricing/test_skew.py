"""ATM-vol proxy and skew model: hand calculations, the documented ratio, no lookahead."""

import math
from datetime import date, datetime, timezone

import numpy as np
import polars as pl
import pytest

from pipeline.market import embedded
from pipeline.pricing import skew

NOW = datetime(2026, 10, 7, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def real() -> tuple[pl.DataFrame, pl.DataFrame]:
    return embedded.load_gvz(NOW), embedded.load_prices("GLD", NOW)


def test_skew_vol_hand_calculation() -> None:
    """atm 0.25, K/S 1.10, t 30/365: d = ln 1.1 / (0.25 sqrt(0.0821918)) = 0.0953102/0.0716728
    = 1.329796; multiplier = 1 - 0.04*1.329796 + 0.03*1.768358 = 0.999859 -> 0.2499647.
    At K/S 0.90 (d = -1.470021): 1 + 0.058801 + 0.064829 = 1.123630 -> 0.2809074."""
    assert skew.skew_vol(0.25, 1.10, 30 / 365) == pytest.approx(0.2499647, abs=2e-7)
    assert skew.skew_vol(0.25, 0.90, 30 / 365) == pytest.approx(0.2809074, abs=2e-7)


def test_skew_shape_puts_richer_than_calls_and_bounded() -> None:
    t = np.array([[7 / 365], [0.25], [1.0], [2.5]])
    down, up = np.array([0.9, 0.8, 0.7]), np.array([1 / 0.9, 1 / 0.8, 1 / 0.7])
    assert np.all(skew.skew_vol(0.18, down, t) > skew.skew_vol(0.18, up, t))
    wide = skew.skew_vol(0.18, np.linspace(0.2, 3.0, 50), t)
    assert np.all(wide >= 0.18 * skew.SKEW_FLOOR - 1e-12)
    assert np.all(wide <= 0.18 * skew.SKEW_CAP + 1e-12)
    assert np.allclose(skew.skew_vol(np.array([0.1, 0.3]), 1.0, 0.5), [0.1, 0.3])
    # the skew in log-moneyness flattens with tenor (scales as 1/sqrt(t))
    assert skew.skew_vol(0.18, 0.9, 0.1) > skew.skew_vol(0.18, 0.9, 1.0)
    # expiry or t <= 0 never produces nan/inf
    assert np.all(np.isfinite(skew.skew_vol(0.18, np.array([0.5, 1.0, 2.0]), 0.0)))


def test_gvz_hv_ratio_is_the_documented_post_2008_median(real) -> None:
    """Re-measure the one post-2008 constant: median GVZ/100 / HV20 on common days."""
    gvz, prices = real
    days, closes = prices["date"].to_list(), prices["close"].to_numpy()
    logret = np.diff(np.log(closes))
    hv = {days[i + 1]: np.std(logret[i - 19:i + 1], ddof=1) * math.sqrt(252)
          for i in range(19, len(logret))}
    ratios = [row[1] / 100 / hv[row[0]] for row in gvz.select("date", "close").iter_rows()
              if row[0] in hv and row[0] <= date(2026, 8, 28)]
    assert len(ratios) > 4500
    assert np.median(ratios) == pytest.approx(skew.GVZ_HV20_RATIO, abs=0.01)


def test_atm_vol_sources_cover_every_gld_day(real) -> None:
    gvz, prices = real
    atm = skew.atm_vol_daily(gvz, prices)
    assert atm["date"].to_list() == prices["date"].to_list()
    assert atm["atm_vol"].is_null().sum() == 0
    by_day = {r["date"]: r for r in atm.iter_rows(named=True)}
    assert by_day[date(2008, 6, 3)]["atm_vol_source"] == "gvz"
    assert by_day[date(2008, 6, 3)]["atm_vol"] == pytest.approx(0.2289)
    pre = by_day[date(2008, 6, 2)]
    assert pre["atm_vol_source"] == "hv20_scaled"
    assert pre["atm_vol"] == pytest.approx(pre["hv20"] * skew.GVZ_HV20_RATIO)
    last = by_day[date(2026, 10, 6)]  # GVZ ends 2026-08-28 (25.17)
    assert last["atm_vol_source"] == "gvz_carried"
    assert last["atm_vol"] == pytest.approx(0.2517)
    assert last["atm_vol_age_days"] == (date(2026, 10, 6) - date(2026, 8, 28)).days


def test_hv20_proxy_matches_a_hand_computed_window(real) -> None:
    _, prices = real
    atm = skew.atm_vol_daily(pl.DataFrame(schema={"date": pl.Date, "close": pl.Float64}), prices)
    closes = prices.filter(pl.col("date") <= date(2006, 3, 1))["close"].to_numpy()[-21:]
    expected = np.std(np.diff(np.log(closes)), ddof=1) * math.sqrt(252) * skew.GVZ_HV20_RATIO
    got = atm.filter(pl.col("date") == date(2006, 3, 1))["atm_vol"].item()
    assert got == pytest.approx(expected, rel=1e-12)


def test_no_lookahead_future_changes_leave_the_past_alone(real) -> None:
    gvz, prices = real
    cut = date(2015, 6, 1)
    base = skew.atm_vol_daily(gvz, prices)
    gvz2 = gvz.with_columns(pl.when(pl.col("date") > cut).then(pl.col("close") * 3)
                            .otherwise(pl.col("close")).alias("close"))
    prices2 = prices.with_columns(pl.when(pl.col("date") > cut).then(pl.col("close") * 0.5)
                                  .otherwise(pl.col("close")).alias("close"))
    other = skew.atm_vol_daily(gvz2, prices2)
    assert base.filter(pl.col("date") <= cut).equals(other.filter(pl.col("date") <= cut))
    assert not base.equals(other)
