"""Synthetic history: one day recomputed independently (raw CSV rows + QuantLib), no lookahead,
and incremental reuse that equals a full recomputation."""

import csv
import math
from datetime import date, datetime, timezone

import numpy as np
import polars as pl
import pytest

from pipeline.market import embedded
from pipeline.paths import EMBEDDED_DATA_DIR
from pipeline.pricing import synthetic

NOW = datetime(2026, 10, 7, tzinfo=timezone.utc)
START, END = date(2008, 3, 1), date(2009, 3, 1)  # spans the pre-GVZ proxy and GVZ's start


@pytest.fixture(scope="module")
def inputs() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    window = pl.col("date").is_between(date(2007, 12, 1), END)
    return (embedded.load_prices("GLD", NOW).filter(window), embedded.load_gvz(NOW).filter(window),
            embedded.load_rates(NOW).filter(pl.col("date").is_between(date(2007, 1, 1), END)))


@pytest.fixture(scope="module")
def chain(inputs) -> pl.DataFrame:
    return synthetic.synthetic_chain(*inputs)


def _csv_value(name: str, day: date, column: str) -> float:
    """The last value on or before `day` in an embedded CSV, read with the csv module."""
    with open(EMBEDDED_DATA_DIR / name, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if date.fromisoformat(row["date"]) <= day]
    return float(rows[-1][column])


def test_one_day_recomputed_independently(chain: pl.DataFrame) -> None:
    """2008-10-15: spot = GLD close, ATM = GVZ close / 100, rate = ln(1/(1 - d*91/360))*365/91 of the
    T-bill discount d (the bank-discount -> continuous conversion), vol = ATM times the documented
    smile, 12-month American put priced by QuantLib's finite-difference engine."""
    ql = pytest.importorskip("QuantLib")
    day = date(2008, 10, 15)
    spot = _csv_value("gld_daily.csv", day, "close")
    atm = _csv_value("gvz_daily.csv", day, "close") / 100
    discount = _csv_value("tbill_3m_daily.csv", day, "rate_pct") / 100
    row = chain.filter((pl.col("date") == day) & (pl.col("tenor_months") == 12)
                       & (pl.col("moneyness") == 0.9) & (pl.col("option_right") == "P")).row(0, named=True)
    assert row["spot"] == spot and row["atm_vol"] == pytest.approx(atm)
    price_discount = 1 - discount * 91 / 360
    assert row["rate"] == pytest.approx(-math.log(price_discount) * 365 / 91, rel=1e-3)
    d = math.log(0.9) / (atm * math.sqrt(1.0))
    vol = atm * min(max(1 - 0.04 * d + 0.03 * d * d, 0.8), 1.75)
    assert row["vol"] == pytest.approx(vol, rel=1e-12)

    today = ql.Date(day.day, day.month, day.year)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.004, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, row["rate"], dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), vol, dc)))
    expiry = today + ql.Period(365, ql.Days)  # t = 1.0 exactly in Actual/365
    payoff = ql.PlainVanillaPayoff(ql.Option.Put, spot * 0.9)
    american = ql.VanillaOption(payoff, ql.AmericanExercise(today, expiry))
    american.setPricingEngine(ql.FdBlackScholesVanillaEngine(process, 800, 800))
    assert row["price"] == pytest.approx(american.NPV(), rel=2e-3)
    european = ql.VanillaOption(payoff, ql.EuropeanExercise(expiry))
    european.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    assert row["delta"] == pytest.approx(european.delta(), rel=1e-3)
    assert row["vega"] == pytest.approx(european.vega(), rel=1e-3)


def test_grid_and_sources(chain: pl.DataFrame) -> None:
    per_day = chain.group_by("date").len()["len"].unique().to_list()
    assert per_day == [9 * 6 * 2]
    early = pl.col("date").is_between(date(2008, 1, 1), date(2008, 6, 2))  # 5 returns in by then
    assert chain.filter(early)["atm_vol_source"].unique().to_list() == ["hv20_scaled"]
    assert chain.filter(pl.col("date") >= date(2008, 6, 3))["atm_vol_source"].unique().to_list() == ["gvz"]
    assert chain.select(pl.all().is_null().sum()).sum_horizontal().item() == 0
    assert (chain["price"] >= 0).all()


def test_changing_a_future_day_changes_nothing_earlier(inputs, chain: pl.DataFrame) -> None:
    """Shock every input after the cut (GLD x0.5, GVZ x3, rates +5 %): rows up to the cut are
    bit-for-bit unchanged; rows after it do change."""
    prices, gvz, rates = inputs
    cut = date(2008, 10, 1)
    after = pl.col("date") > cut
    shocked = synthetic.synthetic_chain(
        prices.with_columns(close=pl.when(after).then(pl.col("close") * 0.5).otherwise("close")),
        gvz.with_columns(close=pl.when(after).then(pl.col("close") * 3).otherwise("close")),
        rates.with_columns(rate=pl.when(after).then(pl.col("rate") + 0.05).otherwise("rate")),
    )
    before = pl.col("date") <= cut
    assert shocked.filter(before).equals(chain.filter(before))
    assert not np.allclose(shocked.filter(after)["price"].to_numpy(), chain.filter(after)["price"].to_numpy())


def test_reuse_of_stored_days_equals_full_recomputation(inputs, chain: pl.DataFrame) -> None:
    prices, gvz, rates = inputs
    revised = gvz.with_columns(close=pl.when(pl.col("date") == date(2008, 11, 3))
                               .then(pl.col("close") + 5).otherwise("close"))
    incremental = synthetic.synthetic_chain(prices, revised, rates, stored=chain)
    assert incremental.equals(synthetic.synthetic_chain(prices, revised, rates))
    assert not incremental.equals(chain)
