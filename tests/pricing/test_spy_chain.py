"""Real data end to end: the Cboe end-of-day SPY chain of 2026-07-24 (tests/fixtures, 13,982 rows;
columns in data/SOURCES.md section 4a) valued by `value_quotes`, checked against the vendor's IV.

Inputs. Spot: `underlying_close` (the quotes are end of day). Rate: the 3-month T-bill of the day
(embedded data, continuous). Carry q: implied per expiry from put-call parity at the five strikes
nearest spot with two-sided quotes, F = K + e^{rt}(C - P), q = r - ln(F/S)/t (European parity on
American quotes: a near-the-money approximation; it absorbs SPY's discrete dividends and the gap
between T-bill and the market's financing rate). Expiries without a parity forward use 1.1 %.

Tolerance (measured, documented in docs/chain_model.md): on liquid near-the-money OTM contracts
(|K/S - 1| <= 5 %, 7..370 days, bid > 0, spread < 5 % of mid, traded that day, vendor IV > 0) our
American IV from the mid agrees with Cboe's IV to a median of 0.06 and a max of 0.52 vol points;
asserted: median <= 0.2 and max <= 1.0 vol points.
"""

import polars as pl
import pytest

from tests.pricing.spy_fixture import valued_spy_chain


@pytest.fixture(scope="module")
def valued() -> pl.DataFrame:
    return valued_spy_chain()


def test_every_row_is_valued_none_dropped(valued: pl.DataFrame) -> None:
    assert valued.height == 13_982
    assert valued["contract"].n_unique() == valued.height


def test_iv_agrees_with_vendor_on_liquid_near_the_money(valued: pl.DataFrame) -> None:
    otm = ((pl.col("option_right") == "P") & (pl.col("moneyness") <= 1)) | (
        (pl.col("option_right") == "C") & (pl.col("moneyness") >= 1))
    liquid = valued.filter(
        otm & (pl.col("moneyness") - 1).abs().le(0.05) & pl.col("days_to_expiry").is_between(7, 370)
        & (pl.col("bid") > 0) & (pl.col("spread_pct") < 0.05) & (pl.col("volume") > 0)
        & (pl.col("vendor_iv") > 0))
    assert liquid.height > 1000
    assert (liquid["iv_reason"] == 0).all()
    gap = (liquid["iv"] - liquid["vendor_iv"]).abs()
    assert gap.median() <= 0.002
    assert gap.max() <= 0.01


def test_zero_vendor_iv_and_zero_bid_rows_are_flagged(valued: pl.DataFrame) -> None:
    no_vendor = valued.filter(pl.col("vendor_iv").fill_null(0) <= 0)
    zero_bid = valued.filter(pl.col("bid") <= 0)
    assert no_vendor.height > 100 and zero_bid.height > 100
    assert no_vendor["flag_no_vendor_iv"].all()
    assert no_vendor["quality_flags"].str.contains("no_vendor_iv").all()
    assert zero_bid["flag_zero_bid"].all()
    assert zero_bid["quality_flags"].str.contains("zero_bid").all()
    # expiring-today contracts have no time left: flagged, never a crash
    expired = valued.filter(pl.col("days_to_expiry") == 0)
    assert expired.height > 0 and (expired["iv_reason_name"] == "expired").all()


def test_greeks_are_sane_where_iv_solved(valued: pl.DataFrame) -> None:
    solved = valued.filter(pl.col("iv_reason") == 0)
    calls, puts = solved.filter(pl.col("option_right") == "C"), solved.filter(pl.col("option_right") == "P")
    assert calls["delta"].is_between(-1e-9, 1 + 1e-9).all()
    assert puts["delta"].is_between(-1 - 1e-9, 1e-9).all()
    assert (solved["gamma"] >= -1e-9).all() and (solved["vega"] >= -1e-9).all()
