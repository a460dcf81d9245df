"""One day's comparison checked by hand, and the kernel numbers checked against QuantLib.

The day (as_of 2026-10-06): GLD at S = 400, ATM vol 20 %, 3-month rate 4 %, q 0.4 %. The loan is
290,000 USD against N = 1,000 shares with the margin call at 75 % LTV:

    unhedged margin-call price = 290,000 / (1,000 x 0.75) = 386.6667
    fall to the call, unhedged = 1 - 386.6667 / 400      = 3.3333 %

The chain lists two expiries, 2026-12-18 (73 days) and 2027-01-15 (101 days). Template
`protective_put_95` targets a 91-day put at 0.95 x 400 = 380:

    expiry: |73 - 91| = 18 > |101 - 91| = 10           -> 2027-01-15
    strike 380: bid 0                                   -> skipped, "zero bid"
    strikes 385 and 375 are both 5 away (tie: higher)   -> 385 first: ask 12.80 < bid 13.00, "crossed quote"
    strike 375: bid 9.40, ask 9.60                      -> picked (5 / 400 = 1.25 % from target, within 5 %)

    contracts           = 1.0 x 1,000 / 100 = 10
    cost_at_fill        = 10 x 100 x 9.60 = 9,600;  cost_at_mid = 10 x 100 x 9.50 = 9,500
    cost_pct_collateral = 9,600 / 400,000 = 2.4 %;  annualised 2.4 % x 365 / 101 = 8.6733 %
    premium_per_share   = 9,600 / 1,000 = 9.60
    floor_value         = 1,000 x 375 = 375,000 (GLD at 0: the puts pay 375 a share)
    max_loss            = 400,000 + 9,600 - 375,000 = 34,600
    breakeven_price     = 400 + 9.60 = 409.60 (above the strike the puts are worthless)

The hedged margin-call price P solves 1,000 P + 1,000 put(P) = 386,666.67, the put American at
vol = skew_vol(0.20, 375 / P, 101 / 365); the test solves it again with QuantLib's QdFp American
engine and Brent's method. With a 280,000 loan the call value 373,333 is below the floor 375,000:
the puts alone cover the call at any price, so there is no hedged margin-call price (fall 100 %). The collar's short 110 % call (440) is sold at its bid 2.10:
cost = 9,600 - 10 x 100 x 2.10 = 7,500, and its upside is capped at 440.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl
import pytest
from scipy.optimize import brentq

from pipeline.config import parse_portfolio
from pipeline.pricing.api import GLD_EXPENSE_RATIO_Q
from pipeline.pricing.skew import skew_vol
from pipeline.strategies.comparison import compare_templates
from pipeline.strategies.legs import contracts_for
from pipeline.strategies.scenarios import strategy_scenarios
from pipeline.strategies.templates import SYSTEM_TEMPLATES, template_by_id
from pipeline.strategies.valuation import DayMarket

AS_OF = date(2026, 10, 6)
MARKET = DayMarket(as_of=AS_OF, spot=400.0, atm_vol=0.20, rate=0.04, chain_source="yfinance")
BOOK = parse_portfolio({"start_date": date(2026, 1, 2), "collateral": {"shares": 1000.0},
                        "loan": {"amount": 290000.0, "margin_call_ltv": 0.75}})
NEAR, FAR = date(2026, 12, 18), date(2027, 1, 15)
#        expiry, right, strike, bid, ask, iv_reason
QUOTES = [
    (NEAR, "P", 380.0, 7.10, 7.30, 0),
    (NEAR, "P", 375.0, 5.90, 6.10, 0),
    (FAR, "P", 390.0, 15.00, 15.30, 0),
    (FAR, "P", 385.0, 13.00, 12.80, 0),   # crossed
    (FAR, "P", 380.0, 0.00, 11.00, 0),    # zero bid
    (FAR, "P", 375.0, 9.40, 9.60, 0),
    (FAR, "P", 320.0, 1.10, 1.20, 0),
    (FAR, "C", 440.0, 2.10, 2.20, 0),
    (FAR, "C", 435.0, 2.60, 2.70, 1),     # IV failed: never reached (440 is nearer 1.10 x 400)
]


def _chain() -> pl.DataFrame:
    rows = [{
        "snapshot_date": AS_OF, "symbol": "GLD",
        "contract": f"GLD{expiry:%y%m%d}{right}{int(strike * 1000):08d}", "expiry": expiry,
        "option_right": right, "strike": strike, "source": "yfinance", "bid": bid, "ask": ask,
        "mid": (bid + ask) / 2, "days_to_expiry": (expiry - AS_OF).days, "iv": 0.21 if reason == 0 else None,
        "iv_reason": reason, "iv_reason_name": "ok" if reason == 0 else "below_intrinsic",
        "fetched_at": datetime(2026, 10, 6, 22, tzinfo=timezone.utc),
    } for expiry, right, strike, bid, ask, reason in QUOTES]
    return pl.DataFrame(rows).with_columns(pl.col("iv_reason").cast(pl.Int8), pl.col("days_to_expiry").cast(pl.Int32))


@pytest.fixture(scope="module")
def compared():
    templates = tuple(template_by_id(SYSTEM_TEMPLATES, t) for t in ("protective_put_95", "collar_95_110"))
    return compare_templates(_chain(), templates, MARKET, BOOK)


def _row(frame: pl.DataFrame, template_id: str) -> dict:
    return frame.filter(pl.col("template_id") == template_id).row(0, named=True)


def test_leg_choice_skips_unusable_quotes_and_says_why(compared):
    put = compared.order_preview.filter(template_id="protective_put_95").row(0, named=True)
    assert (put["contract"], put["expiry"], put["strike"], put["contracts"], put["action"]) == (
        "GLD270115P00375000", FAR, 375.0, 10, "BUY")
    notes = _row(compared.comparison, "protective_put_95")["leg_notes"]
    assert notes == ("leg 0 (long P 95%, 91 d): GLD270115P00380000 zero bid; "
                     "GLD270115P00385000 crossed quote")
    call = compared.order_preview.filter(template_id="collar_95_110", leg_index=1).row(0, named=True)
    assert (call["contract"], call["action"], call["est_cost_at_fill"]) == ("GLD270115C00440000", "SELL", -2100.0)
    assert call["limit_price"] == pytest.approx(2.15, abs=1e-12)


def test_cost_and_payoff_figures_match_the_hand_calculation(compared):
    row = _row(compared.comparison, "protective_put_95")
    assert row["status"] == "ok" and row["chain_source"] == "yfinance"
    assert row["contracts"] == 10 and row["protected_shares"] == 1000.0
    assert row["cost_at_fill"] == pytest.approx(9600.0, abs=1e-9)
    assert row["cost_at_mid"] == pytest.approx(9500.0, abs=1e-9)
    assert row["premium_per_share"] == pytest.approx(9.60, abs=1e-12)
    assert row["cost_pct_collateral"] == pytest.approx(0.024, rel=1e-12)
    assert row["cost_annualised_pct"] == pytest.approx(0.024 * 365 / 101, rel=1e-12)
    assert row["unhedged_margin_call_price"] == pytest.approx(386.666666667, rel=1e-9)
    assert row["fall_to_margin_call_unhedged_pct"] == pytest.approx(1 / 30, rel=1e-9)
    assert row["floor_value"] == pytest.approx(375000.0, abs=1e-6)
    assert row["max_loss"] == pytest.approx(34600.0, abs=1e-6)
    assert row["breakeven_price"] == pytest.approx(409.60, abs=1e-9)
    assert row["upside_cap_price"] is None and row["dte"] == 101 and row["expiry"] == FAR
    collar = _row(compared.comparison, "collar_95_110")
    assert collar["cost_at_fill"] == pytest.approx(7500.0, abs=1e-9)
    assert collar["upside_cap_price"] == 440.0 and collar["contracts"] == 20


def _quantlib_put(spot: float, strike: float, days: int, atm_vol: float) -> float:
    from tests.pricing.ql_oracle import Oracle

    vol = float(skew_vol(atm_vol, strike / spot, days / 365))
    return Oracle().american(False, spot, strike, days, MARKET.rate, GLD_EXPENSE_RATIO_Q, vol)


def test_hedged_margin_call_price_solves_the_call_equation_with_quantlib_prices(compared):
    pytest.importorskip("QuantLib")
    row = _row(compared.comparison, "protective_put_95")
    call_value = 290000.0 / 0.75
    expected = brentq(lambda p: 1000 * p + 1000 * _quantlib_put(p, 375.0, 101, 0.20) - call_value, 250.0, 400.0,
                      xtol=1e-10)
    assert row["hedged_margin_call_price"] == pytest.approx(expected, abs=0.005)
    assert row["fall_to_margin_call_hedged_pct"] == pytest.approx(1 - expected / 400.0, abs=2e-5)
    points = 100 * (row["fall_to_margin_call_hedged_pct"] - 1 / 30)
    assert row["protection_points"] == pytest.approx(points, rel=1e-9)
    assert row["cost_per_protection_point"] == pytest.approx(9600.0 / points, rel=1e-9)


def test_puts_whose_floor_exceeds_the_call_value_leave_no_margin_call_price():
    smaller_loan = BOOK.model_copy(update={"loan": BOOK.loan.model_copy(update={"amount": 280000.0})})
    template = (template_by_id(SYSTEM_TEMPLATES, "protective_put_95"),)
    row = compare_templates(_chain(), template, MARKET, smaller_loan).comparison.row(0, named=True)
    assert row["hedged_margin_call_price"] is None and row["fall_to_margin_call_hedged_pct"] == 1.0


def test_a_scenario_cell_is_the_quantlib_price_and_expiry_is_the_payoff(compared):
    """Cell (now, spot -20 % -> 320, vol +10 points -> ATM 30 %): 10 contracts x 100 x put(320)."""
    pytest.importorskip("QuantLib")
    scenarios = strategy_scenarios(compared.legs, MARKET, BOOK).filter(template_id="protective_put_95")
    cell = scenarios.filter(horizon="now", spot_shock=-0.20, vol_shock=0.10).row(0, named=True)
    expected = 1000 * _quantlib_put(320.0, 375.0, 101, 0.30)
    assert cell["gld_price"] == pytest.approx(320.0, rel=1e-12)
    assert cell["hedge_value"] == pytest.approx(expected, rel=2e-5)
    assert cell["hedged_ltv"] == pytest.approx(290000.0 / (320000.0 + cell["hedge_value"]), rel=1e-12)
    assert cell["unhedged_ltv"] == pytest.approx(290000.0 / 320000.0, rel=1e-12)
    at_expiry = scenarios.filter(horizon="expiry", spot_shock=-0.20, vol_shock=0.10).row(0, named=True)
    assert at_expiry["horizon_days"] == 101 and at_expiry["hedge_value"] == 1000 * (375.0 - 320.0)
    thirty = scenarios.filter(horizon="30d", spot_shock=-0.20, vol_shock=0.0).row(0, named=True)
    assert thirty["hedge_value"] == pytest.approx(1000 * _quantlib_put(320.0, 375.0, 71, 0.20), rel=2e-5)


def test_contract_rounding_is_largest_remainder_per_right_and_side():
    assert contracts_for([0.33, 0.33, 0.34], 1000) == [3, 3, 4]
    assert contracts_for([0.5, 0.5], 1049) == [5, 5]     # 10.49 contracts -> 10
    assert contracts_for([1.0], 1050) == [11]            # half a contract rounds up
    assert contracts_for([1.0], 40) == [0]               # under half a contract: no leg
    assert sum(contracts_for([0.25] * 4, 918.9)) == 9


def test_a_template_without_a_usable_contract_is_kept_with_its_reason():
    only_puts = _chain().filter(pl.col("option_right") == "P")
    compared = compare_templates(only_puts, (template_by_id(SYSTEM_TEMPLATES, "collar_95_110"),), MARKET, BOOK)
    row = compared.comparison.row(0, named=True)
    assert row["status"] == "no_contract" and row["cost_at_fill"] is None and row["contracts"] == 0
    assert "leg 1 (short C 110%, 91 d): no listed C expiry in 1..any days" in row["leg_notes"]
    assert compared.order_preview.is_empty()
