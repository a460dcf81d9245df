"""The leg picker on a real chain: the Cboe end-of-day SPY chain of 2026-07-24 (zero bids, wide
spreads, thousands of strikes), so every pick is a listed contract and every skip has a reason."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.strategies.legs import MAX_STRIKE_GAP, pick_leg, pick_template, skip_reason
from pipeline.strategies.templates import SYSTEM_TEMPLATES, Leg
from tests.pricing.spy_fixture import valued_spy_chain


@pytest.fixture(scope="module")
def spy() -> pl.DataFrame:
    return valued_spy_chain()


@pytest.fixture(scope="module")
def spot(spy: pl.DataFrame) -> float:
    return float(spy["underlying_price"][0])


def test_every_system_template_picks_listed_tradeable_contracts(spy, spot):
    listed = spy.select("contract", "expiry", "option_right", "strike", "bid", "ask", "iv_reason")
    for template in SYSTEM_TEMPLATES:
        pick = pick_template(spy, template, spot, shares=1000.0)
        assert pick.priced, (template.template_id, pick.notes)
        legs = pick.legs.join(listed, on="contract", suffix="_chain").sort("leg_index")
        assert legs.height == len(template.legs)
        assert (legs["expiry"] == legs["expiry_chain"]).all() and (legs["strike"] == legs["strike_chain"]).all()
        assert (legs["bid_chain"] > 0).all() and (legs["ask_chain"] >= legs["bid_chain"]).all()
        assert (legs["iv_reason"] == 0).all()
        for leg, row in zip(template.legs, legs.iter_rows(named=True)):
            assert abs(row["strike"] - leg.moneyness * spot) <= MAX_STRIKE_GAP * spot
            assert row["fill_price"] == (row["ask"] if leg.side == "long" else row["bid"])


def test_the_nearest_expiry_and_strike_win(spy, spot):
    row, _ = pick_leg(spy, Leg("P", "long", 0.95), spot)
    puts = spy.filter((pl.col("option_right") == "P") & (pl.col("days_to_expiry") > 0))
    nearest_days = min(puts["days_to_expiry"].unique().to_list(), key=lambda d: (abs(d - 91), -d))
    assert row["days_to_expiry"] == nearest_days
    same_expiry = puts.filter(pl.col("days_to_expiry") == nearest_days)
    usable = [r for r in same_expiry.iter_rows(named=True) if skip_reason(r) is None]
    assert abs(row["strike"] - 0.95 * spot) == min(abs(r["strike"] - 0.95 * spot) for r in usable)


def test_skipped_contracts_are_named_with_their_reason(spy, spot):
    """Far out of the money on the shortest expiries SPY quotes zero bids: a 7-day 75 % put
    target walks past them and records each one."""
    row, skipped = pick_leg(spy, Leg("P", "long", 0.75, tenor_days=1), spot)
    zero_bid = [note for note in skipped if note.endswith("zero bid")]
    assert zero_bid, skipped
    for note in zero_bid:
        contract = note.split()[0]
        quoted = spy.filter(pl.col("contract") == contract).row(0, named=True)
        assert quoted["bid"] <= 0
    if row is not None:
        assert row["bid"] > 0


def test_no_expiry_in_the_window_is_said_not_guessed(spy, spot):
    row, skipped = pick_leg(spy, Leg("P", "long", 0.9, tenor_days=4000, tenor_min_days=3650), spot)
    assert row is None and skipped == ["no listed P expiry in 3650..any days"]
