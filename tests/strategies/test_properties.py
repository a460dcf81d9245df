"""Properties of the comparison and the scenarios that must hold in every market (hypothesis).

Each example builds a model GLD chain (real listing pattern, skew and spread model) at a random
spot, ATM vol and rate, values it with the kernel, and prices templates on it.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import parse_portfolio
from pipeline.pricing.chain import model_chain, value_quotes
from pipeline.strategies.comparison import compare_templates
from pipeline.strategies.scenarios import strategy_scenarios
from pipeline.strategies.templates import SYSTEM_TEMPLATES, Leg, Template, template_by_id
from pipeline.strategies.valuation import DayMarket

AS_OF = date(2026, 3, 2)
FETCHED = datetime(2026, 3, 2, 22, tzinfo=timezone.utc)
markets = st.builds(lambda spot, vol, rate: (spot, vol, rate),
                    st.floats(150.0, 500.0), st.floats(0.10, 0.45), st.floats(0.0, 0.06))
loans = st.floats(0.40, 0.74)  # today's LTV
EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _day(spot: float, vol: float, rate: float, ltv: float):
    quotes = model_chain(AS_OF, spot, vol, rate, FETCHED)
    rates = pl.DataFrame({"date": [AS_OF], "rate": [rate]})
    chain = value_quotes(quotes, rates)
    book = parse_portfolio({"start_date": date(2026, 1, 2), "collateral": {"shares": 1000.0},
                            "loan": {"amount": round(ltv * 1000 * spot, 2), "margin_call_ltv": 0.75}})
    return chain, DayMarket(AS_OF, spot, vol, rate, "model"), book


def _put(template_id: str, moneyness: float) -> Template:
    return Template(template_id, template_id, "protective_put", (Leg("P", "long", moneyness),))


@EXAMPLES
@given(markets, loans, st.floats(0.80, 1.05), st.floats(0.01, 0.15))
def test_a_higher_put_strike_never_raises_the_call_price_and_never_costs_less(market, ltv, low, step):
    chain, day, book = _day(*market, ltv)
    compared = compare_templates(chain, (_put("low", low), _put("high", min(low + step, 1.10))), day, book)
    rows = {r["template_id"]: r for r in compared.comparison.iter_rows(named=True)}
    strikes = dict(compared.legs.select("template_id", "strike").rows())
    assert strikes["high"] >= strikes["low"]
    assert rows["high"]["cost_at_fill"] >= rows["low"]["cost_at_fill"]
    call_low = rows["low"]["hedged_margin_call_price"]
    call_high = rows["high"]["hedged_margin_call_price"]
    if call_low is None:  # the lower put already covers the call at any price: so does the higher
        assert call_high is None
    elif call_high is not None:
        assert call_high <= call_low + 1e-9


@EXAMPLES
@given(markets, loans)
def test_a_collar_never_costs_more_than_its_long_put(market, ltv):
    chain, day, book = _day(*market, ltv)
    templates = tuple(template_by_id(SYSTEM_TEMPLATES, t) for t in ("protective_put_95", "collar_95_110"))
    costs = dict(compare_templates(chain, templates, day, book).comparison.select("template_id", "cost_at_fill").rows())
    assert costs["collar_95_110"] <= costs["protective_put_95"]


@EXAMPLES
@given(markets, loans)
def test_long_puts_keep_hedged_ltv_at_or_below_unhedged_in_every_down_scenario(market, ltv):
    chain, day, book = _day(*market, ltv)
    long_puts = tuple(t for t in SYSTEM_TEMPLATES if all(leg.side == "long" and leg.option_right == "P" for leg in t.legs))
    assert len(long_puts) == 6
    compared = compare_templates(chain, long_puts, day, book)
    down = strategy_scenarios(compared.legs, day, book).filter(pl.col("spot_shock") <= 0)
    assert down.height == 6 * 3 * 3 * 11
    assert (down["hedged_ltv"] <= down["unhedged_ltv"]).all()
    assert (down["hedge_value"] >= 0).all()


@EXAMPLES
@given(markets, loans)
def test_hedge_value_at_expiry_is_exactly_the_intrinsic_payoff(market, ltv):
    chain, day, book = _day(*market, ltv)
    compared = compare_templates(chain, SYSTEM_TEMPLATES, day, book)
    expiry = strategy_scenarios(compared.legs, day, book).filter(horizon="expiry")
    for (template_id,), cells in expiry.partition_by("template_id", as_dict=True).items():
        legs = compared.legs.filter(template_id=template_id)
        assert legs["dte"].n_unique() == 1  # a system template's legs expire together
        for cell in cells.iter_rows(named=True):
            price = cell["gld_price"]
            expected = 0.0
            for leg in legs.iter_rows(named=True):
                intrinsic = max(leg["strike"] - price, 0.0) if leg["option_right"] == "P" else max(price - leg["strike"], 0.0)
                expected += leg["sign"] * intrinsic * leg["contracts"] * 100
            assert cell["hedge_value"] == pytest.approx(expected, abs=1e-9 * max(1.0, abs(expected)))
            if legs.height == 1:
                assert cell["hedge_value"] == expected  # one leg: bit for bit


def test_the_property_chains_are_real_enough_to_mean_something():
    """Guard against vacuous properties: the model chain prices every template."""
    chain, day, book = _day(380.0, 0.2, 0.04, 0.70)
    compared = compare_templates(chain, SYSTEM_TEMPLATES, day, book)
    assert (compared.comparison["status"] == "ok").all()
    assert np.all(compared.comparison["cost_at_fill"].to_numpy() > 0)
