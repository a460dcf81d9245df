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
from pipeline.pricing import bs_greeks, synthetic

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
    smile, 12-month American put priced and differentiated by QuantLib's finite-difference engine."""
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

    price, delta, vega = _quantlib_american_put(row)
    assert row["price"] == pytest.approx(price, rel=2e-3)
    assert row["delta"] == pytest.approx(delta, rel=2e-3)
    assert row["vega"] == pytest.approx(vega, rel=2e-3)


def _quantlib_american_put(row: dict) -> tuple[float, float, float]:
    """QuantLib finite-difference American put at the row's inputs: NPV, delta, and vega as a
    central difference of the NPV (vol +-1e-3). Year fraction = tenor days / 365 (Actual/365)."""
    ql = pytest.importorskip("QuantLib")
    day = row["date"]
    today = ql.Date(day.day, day.month, day.year)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    vol_quote = ql.SimpleQuote(row["vol"])
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(row["spot"])),
        ql.YieldTermStructureHandle(ql.FlatForward(today, row["q"], dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, row["rate"], dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), ql.QuoteHandle(vol_quote), dc)))
    expiry = today + ql.Period(round(row["t_years"] * 365), ql.Days)
    american = ql.VanillaOption(ql.PlainVanillaPayoff(ql.Option.Put, row["strike"]),
                                ql.AmericanExercise(today, expiry))
    american.setPricingEngine(ql.FdBlackScholesVanillaEngine(process, 800, 800))
    price, delta = american.NPV(), american.delta()
    bumped = []
    for shift in (1e-3, -1e-3):
        vol_quote.setValue(row["vol"] + shift)
        bumped.append(american.NPV())
    return price, delta, (bumped[0] - bumped[1]) / 2e-3


def test_greeks_are_american(chain: pl.DataFrame) -> None:
    """Early January 2008 (T-bill ~3%): a 24-month put struck 10% in the money, where early exercise
    moves the Greeks well beyond the tolerance (the European delta is checked to be off by > 10x it)."""
    row = chain.filter((pl.col("date") >= date(2008, 1, 2)) & (pl.col("tenor_months") == 24)
                       & (pl.col("moneyness") == 1.1) & (pl.col("option_right") == "P")).row(0, named=True)
    assert row["rate"] > 0.02
    price, delta, vega = _quantlib_american_put(row)
    assert row["price"] == pytest.approx(price, rel=2e-3)
    assert row["delta"] == pytest.approx(delta, rel=2e-3)
    assert row["vega"] == pytest.approx(vega, rel=2e-3)
    european = bs_greeks(False, row["spot"], row["strike"], row["t_years"], row["rate"], row["q"], row["vol"])
    assert abs(float(european.delta) - delta) > 10 * 2e-3 * abs(delta)


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
