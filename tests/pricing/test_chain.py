"""Model chain and the valuation frame layer, checked against hand values and QuantLib."""

from datetime import date, datetime, timezone

import numpy as np
import polars as pl
import pytest

from pipeline.market.quotes import QUOTES_SCHEMA
from pipeline.pricing import chain
from pipeline.pricing.skew import skew_vol

NOW = datetime(2026, 10, 7, 1, 0, tzinfo=timezone.utc)
DAY = date(2026, 10, 6)
RATES = pl.DataFrame({"date": [date(2026, 8, 12)], "rate": [0.037]})


@pytest.fixture(scope="module")
def model() -> pl.DataFrame:
    return chain.model_chain(DAY, 450.0, 0.25, 0.037, NOW)


@pytest.fixture(scope="module")
def valued(model: pl.DataFrame) -> pl.DataFrame:
    return chain.value_quotes(model, RATES)


def test_occ_contract_symbol() -> None:
    """OCC layout by hand: GLD + 261016 + P + 00400000 (400.000 x 1000, 8 digits)."""
    frame = pl.DataFrame({"s": ["GLD", "GLD"], "e": [date(2026, 10, 16), date(2028, 1, 21)],
                          "r": ["P", "C"], "k": [400.0, 432.5]})
    got = frame.select(chain.occ_contract(pl.col("s"), pl.col("e"), pl.col("r"), pl.col("k")))
    assert got.to_series().to_list() == ["GLD261016P00400000", "GLD280121C00432500"]


def test_spread_model_by_hand() -> None:
    """theo 2.00, t 1/12: spread 0.02 + 0.02*2*(1+0.5/12) = 0.061667 -> 1.969 .. 2.031, penny
    ticks -> 1.96 / 2.04. theo 50, t 2: 0.02 + 0.02*50*2 = 2.02 -> 48.99 .. 51.01, nickel ticks
    -> 48.95 / 51.05."""
    bid, ask = chain.model_bid_ask(np.array([2.0, 50.0]), np.array([1 / 12, 2.0]))
    assert bid.tolist() == [1.96, 48.95]
    assert ask.tolist() == [2.04, 51.05]


def test_model_chain_shape_and_provenance(model: pl.DataFrame) -> None:
    assert set(model["source"].unique()) == {"model"}
    assert model["contract"].n_unique() == model.height
    assert model["expiry"].min() > DAY and model["expiry"].max() <= date(2029, 4, 1)
    assert (model["bid"] <= model["ask"]).all() and (model["bid"] >= 0).all()
    assert model.select(pl.col("last").is_null().all(), pl.col("volume").is_null().all()).row(0) == (True, True)
    assert model.columns == list(QUOTES_SCHEMA)
    # vendor_iv carries the skew model vol of each contract
    t = np.array([(e - DAY).days for e in model["expiry"].to_list()]) / 365
    expected = skew_vol(0.25, model["strike"].to_numpy() / 450.0, t)
    assert np.allclose(model["vendor_iv"].to_numpy(), expected)


def test_model_mid_matches_quantlib_american(model: pl.DataFrame) -> None:
    """The mid of a liquid model quote is the QuantLib American price within the spread."""
    ql = pytest.importorskip("QuantLib")
    row = model.filter((pl.col("option_right") == "P") & (pl.col("strike") == 430.0)
                       & (pl.col("expiry") == date(2026, 11, 20))).row(0, named=True)
    today = ql.Date(6, 10, 2026)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    spot = ql.QuoteHandle(ql.SimpleQuote(450.0))
    rate = ql.YieldTermStructureHandle(ql.FlatForward(today, 0.037, dc))
    div = ql.YieldTermStructureHandle(ql.FlatForward(today, 0.004, dc))
    vol = ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), row["vendor_iv"], dc))
    process = ql.BlackScholesMertonProcess(spot, div, rate, vol)
    option = ql.VanillaOption(ql.PlainVanillaPayoff(ql.Option.Put, 430.0),
                              ql.AmericanExercise(today, ql.Date(20, 11, 2026)))
    option.setPricingEngine(ql.FdBlackScholesVanillaEngine(process, 400, 800))
    mid = (row["bid"] + row["ask"]) / 2
    assert abs(mid - option.NPV()) <= (row["ask"] - row["bid"]) / 2 + 1e-9


def test_valuation_recovers_model_vol_near_the_money(valued: pl.DataFrame) -> None:
    """IV solved from the model mid of OTM contracts within 10 % of spot comes back to the
    generating vol (mids are rounded to ticks: within 0.5 vol point). Deep ITM short-dated
    American puts sit on the exercise boundary (no time value): not identifiable, so left out."""
    otm = ((pl.col("option_right") == "P") & (pl.col("moneyness") <= 1)) | (
        (pl.col("option_right") == "C") & (pl.col("moneyness") >= 1))
    liquid = valued.filter(otm & pl.col("moneyness").is_between(0.9, 1.1) & (pl.col("days_to_expiry") >= 7))
    assert liquid.height > 500
    assert (liquid["iv_reason"] == 0).all()
    assert (liquid["iv"] - liquid["vendor_iv"]).abs().max() < 0.005


def test_every_row_valued_and_flags_consistent(model: pl.DataFrame, valued: pl.DataFrame) -> None:
    assert valued.height == model.height
    assert valued.columns == chain.VALUATION_COLUMNS
    solved = valued.filter(pl.col("iv_reason") == 0)
    assert solved.select(pl.col("delta").is_null().sum()).item() == 0
    failed = valued.filter(pl.col("iv_reason") != 0)
    assert failed["iv"].is_null().all() and failed["delta"].is_null().all()
    assert failed["flag_iv_failed"].all() and (failed["quality_flags"].str.contains("iv_failed")).all()
    assert (valued.filter(pl.col("bid") == 0)["flag_zero_bid"]).all()
    assert not valued["flag_stale_last"].any()  # model rows have no last trade at all
    assert valued["rate_age_days"].unique().to_list() == [(DAY - date(2026, 8, 12)).days]
    puts = solved.filter(pl.col("option_right") == "P")
    assert (puts["delta"] < 0).all() and (puts["delta"] >= -1 - 1e-9).all()


def test_bad_rows_are_kept_and_flagged() -> None:
    """Crossed, zero-bid, missing ask, expired, stale last and below-intrinsic quotes: all kept."""
    base = {"snapshot_date": DAY, "symbol": "GLD", "expiry": date(2026, 11, 20), "option_right": "P",
            "strike": 450.0, "bid": 10.0, "ask": 10.4, "last": 10.2, "volume": 5, "open_interest": 100,
            "vendor_iv": 0.25, "underlying_price": 450.0, "last_trade_at": datetime(2026, 10, 6, 15, tzinfo=timezone.utc),
            "source": "yfinance", "fetched_at": NOW}
    cases = {
        "ok": {},
        "crossed": {"bid": 10.6, "ask": 10.4},
        "zero_bid": {"bid": 0.0, "ask": 0.05, "strike": 300.0},
        "no_ask": {"bid": 0.0, "ask": 0.0},
        "expired": {"expiry": DAY},
        "stale": {"last_trade_at": datetime(2026, 9, 30, 15, tzinfo=timezone.utc)},
        "below_intrinsic": {"strike": 500.0, "bid": 40.0, "ask": 40.2},
        "no_vendor_iv": {"vendor_iv": 0.0},
    }
    rows = [{**base, **change, "contract": name} for name, change in cases.items()]
    frame = pl.DataFrame(rows, schema=QUOTES_SCHEMA)
    got = {r["contract"]: r for r in chain.value_quotes(frame, RATES).iter_rows(named=True)}
    assert len(got) == len(cases)
    # 45-day ATM put at mid 10.20: ATM approximation 0.4*S*vol*sqrt(t) -> vol = 10.2/(0.4*450*0.3511) = 0.161
    assert got["ok"]["quality_flags"] == "" and got["ok"]["iv"] == pytest.approx(0.161, abs=0.02)
    assert got["crossed"]["flag_crossed"]
    assert got["zero_bid"]["flag_zero_bid"] and got["zero_bid"]["flag_wide_spread"]
    assert got["no_ask"]["mid"] is None and got["no_ask"]["iv_reason_name"] == "bad_input"
    assert got["expired"]["iv_reason_name"] == "expired" and got["expired"]["days_to_expiry"] == 0
    assert got["stale"]["flag_stale_last"] and not got["ok"]["flag_stale_last"]
    assert got["below_intrinsic"]["iv_reason_name"] == "below_intrinsic"
    assert got["no_vendor_iv"]["flag_no_vendor_iv"]


def test_underlying_filled_from_prices_as_of_the_day() -> None:
    quotes = chain.model_chain(DAY, 450.0, 0.25, 0.037, NOW).head(4).with_columns(
        underlying_price=pl.lit(None, dtype=pl.Float64))
    prices = pl.DataFrame({"date": [date(2026, 10, 5), date(2026, 10, 6), date(2026, 10, 7)],
                           "close": [440.0, 450.0, 999.0]})
    valued = chain.value_quotes(quotes, RATES, prices)
    assert valued["underlying_price"].unique().to_list() == [450.0]


def test_snapshot_days_to_value() -> None:
    t1, t2 = NOW, datetime(2026, 10, 8, tzinfo=timezone.utc)
    quoted = pl.DataFrame({"snapshot_date": [date(2026, 10, 5), date(2026, 10, 6)],
                           "fetched_at": [t1, t2], "rows": [10, 12]})
    valued = pl.DataFrame({"snapshot_date": [date(2026, 10, 5), date(2026, 10, 6), date(2026, 10, 2)],
                           "fetched_at": [t1, t1, t1], "rows": [10, 12, 3]})
    assert chain.snapshot_days_to_value(quoted, valued) == ([date(2026, 10, 6)], [date(2026, 10, 2)])


def test_model_chain_inputs_use_the_last_known_values() -> None:
    prices = pl.DataFrame({"date": [date(2026, 10, 5), date(2026, 10, 6)], "close": [440.0, 450.0]})
    atm = pl.DataFrame({"date": [date(2026, 10, 5), date(2026, 10, 6)], "atm_vol": [0.2, 0.25],
                        "atm_vol_source": ["gvz_carried"] * 2, "atm_vol_age_days": [38, 39]})
    got = chain.model_chain_inputs(date(2026, 10, 6), prices, atm, RATES)
    assert (got["spot"], got["atm_vol"], got["rate"], got["rate_date"]) == (450.0, 0.25, 0.037, date(2026, 8, 12))
    assert got["atm_vol_source"] == "gvz_carried" and got["atm_vol_age_days"] == 39
    with pytest.raises(ValueError, match="model chain for 2026-01-02: no GLD close on or before"):
        chain.model_chain_inputs(date(2026, 1, 2), prices, atm, RATES)
