"""The backtest engine against its per-day reference loop, hand-checked cases and edge cases."""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import date

import numpy as np
import pytest

from pipeline.backtest import engine_nb as nb
from pipeline.backtest.engine import (UNHEDGED, MarkBook, Policy, Scenario, event_day_range, replay, run_scenario,
                                      summary_row, trend_signal)
from pipeline.backtest.providers import Market, SyntheticProvider
from pipeline.backtest.reference import reference_replay
from pipeline.strategies.templates import SYSTEM_TEMPLATES, Leg, template_by_id

FIGURES = ("survived", "max_ltv", "max_ltv_date", "first_breach_date", "final_equity", "hedge_cost_total",
           "hedge_cost_annualised_pct", "payoff_received", "sharpe", "max_drawdown", "win_rate", "profit_factor",
           "trades")


def _agree(engine: dict, reference: dict, label: str) -> None:
    for name in FIGURES:
        a, b = engine[name], reference[name]
        if isinstance(a, float) or isinstance(b, float):
            assert a is not None and b is not None, f"{label}: {name} engine {a} reference {b}"
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), f"{label}: {name} engine {a} reference {b}"
        else:
            assert a == b, f"{label}: {name} engine {a} reference {b}"


def _random_case(rng: random.Random, market: Market) -> tuple[Scenario, Policy]:
    first = rng.randrange(30, market.size - 200)
    last = first + rng.randrange(0, 150)
    tenor = rng.choice([14, 30, 61, 91])
    legs = tuple(Leg("P", "long", rng.choice([1.0, 0.95, 0.9]), rng.choice([0.5, 1.0]), tenor)
                 for _ in range(rng.choice([1, 2])))
    if rng.random() < 0.3:
        legs += (Leg(rng.choice(["P", "C"]), "short", rng.choice([0.8, 1.1]), 0.5, tenor),)
    policy = Policy("random", legs, rng.choice([0, 3, tenor - 7]), rng.choice([0.25, 0.5, 1.0]),
                    rng.choice([None, None, 0.002, 0.01]), rng.random() < 0.4)
    ltv = rng.uniform(0.5, 0.74)
    shares = rng.choice([1000.0, 650.0, 12345.0])
    scenario = Scenario("random", first, last, shares, ltv * shares * market.close[first], 0.75,
                        rng.choice([None, 0.6]))
    return scenario, policy


def test_engine_equals_reference_loop_on_random_scenarios(market: Market, synthetic: SyntheticProvider):
    """60 random windows x policies (puts, ladders, short legs, budget caps, trend signal, cures):
    every summary figure of the engine equals the per-day reference loop's to 1e-9."""
    rng = random.Random(20260129)
    signal = trend_signal(market.close, 20, 0.85, 6.0)
    for case in range(60):
        scenario, policy = _random_case(rng, market)
        run = run_scenario(synthetic, scenario, [policy], signal)[0]
        expected = reference_replay(synthetic, scenario, policy, signal)
        _agree(summary_row(run, market), expected, f"case {case} {policy} {scenario}")
        np.testing.assert_allclose(run.paths[nb.PATH_HEDGED_LTV], expected["hedged_ltv"], rtol=1e-12)


def _jan_2026(market: Market) -> Scenario:
    first, last = event_day_range(market, date(2026, 1, 29), date(2026, 2, 2), 0)
    return Scenario("jan_2026", first, last, 1000.0, 0.65 * 1000.0 * market.close[first], 0.75)


def test_jan_2026_hand_checked(market: Market, synthetic: SyntheticProvider):
    """GLD closed 495.90 on 2026-01-29, 444.95 on 01-30 and 427.13 on 02-02 (data/embedded).
    Initial LTV 0.65 on 1,000 shares: loan = 0.65 x 495,900 = 322,335, fixed.
    Unhedged: 322,335 / 444,950 = 0.7244 (< 0.75) on 01-30, 322,335 / 427,130 = 0.7547 on 02-02: the
    first breach is 2026-02-02.
    A 3-month ATM put bought on 01-29 (strike 495.90, 10 contracts) is worth at least its intrinsic
    value, so collateral + hedge >= 1,000 x 495.90 and hedged LTV <= 322,335 / 495,900 = 0.65 on every
    day: it never reaches the 0.75 call.
    """
    scenario = _jan_2026(market)
    assert market.close[scenario.first] == pytest.approx(495.90)
    put = Policy.from_template(template_by_id(SYSTEM_TEMPLATES, "protective_put_atm"))
    unhedged, hedged = run_scenario(synthetic, scenario, [UNHEDGED, put], np.ones(market.size, dtype=bool))
    figures = summary_row(unhedged, market)
    assert figures["first_breach_date"] == date(2026, 2, 2)
    np.testing.assert_allclose(unhedged.paths[nb.PATH_UNHEDGED_LTV], [0.65, 322335 / 444950, 322335 / 427130])
    protected = summary_row(hedged, market)
    assert protected["survived"] and protected["first_breach_date"] is None
    assert protected["max_ltv"] <= 0.65 + 1e-12
    assert (hedged.paths[nb.PATH_HEDGED_LTV] <= 322335 / 495900 + 1e-12).all()


def test_no_lookahead(market: Market, synthetic: SyntheticProvider):
    """Changing every close, vol and rate after day d changes no path value on or before d."""
    first = market.index_on_or_after(date(2013, 4, 1))
    scenario = Scenario("taper", first, first + 120, 1000.0, 0.65 * 1000 * market.close[first], 0.75, 0.6)
    d = first + 40
    shocked = dataclasses.replace(market, close=market.close.copy(), atm_vol=market.atm_vol.copy(),
                                  rate=market.rate.copy())
    shocked.close[d + 1:] *= 0.7
    shocked.atm_vol[d + 1:] *= 2.0
    shocked.rate[d + 1:] += 0.03
    policies = [Policy.from_template(t, 0.75, 0.02) for t in SYSTEM_TEMPLATES] + [
        Policy("alma_put", SYSTEM_TEMPLATES[0].legs, 21, 1.0, None, True)]
    base = run_scenario(synthetic, scenario, policies, trend_signal(market.close, 20, 0.85, 6.0))
    moved = run_scenario(SyntheticProvider(shocked), scenario, policies, trend_signal(shocked.close, 20, 0.85, 6.0))
    upto = d - first + 1
    for a, b in zip(base, moved):
        np.testing.assert_array_equal(a.paths[:, :upto], b.paths[:, :upto])
        assert not np.array_equal(a.paths, b.paths)


def test_expiry_pays_intrinsic_exactly_and_rolls_same_day(market: Market, synthetic: SyntheticProvider):
    """A 14-day put held to expiry (roll_dte 0): on its expiry day the cash received is exactly
    contracts x 100 x max(K - close, 0), and a new put is bought that same day."""
    first = market.index_on_or_after(date(2008, 9, 2))
    scenario = Scenario("gfc", first, first + 30, 1000.0, 60000.0, 0.75)
    policy = Policy("p14", (Leg("P", "long", 1.0, 1.0, 14),), 0)
    book = MarkBook(synthetic)
    plan = book.plan(policy, scenario, np.ones(market.size, dtype=bool))
    book.price()
    run = replay(book, plan)
    expiry = plan.closes[0]
    assert plan.ends[0] == nb.END_EXPIRY and plan.opens[1] == expiry
    strike = market.close[first]
    payoff = 10 * 100 * max(strike - market.close[expiry], 0.0)
    marks = book.marks
    j0 = book.mark_at(plan)[0, 0]
    j1 = book.mark_at(plan)[1, 0]
    paid_first, paid_second = 10 * 100 * marks.ask[j0], 10 * 100 * marks.ask[j1]
    cash_on_expiry = run.paths[nb.PATH_CASH, expiry - first]
    assert cash_on_expiry == pytest.approx(paid_first - payoff + paid_second, rel=1e-12)
    assert marks.mid[j0 + expiry - first] == marks.bid[j0 + expiry - first] == max(strike - market.close[expiry], 0)


def test_roll_when_dte_reaches_roll_dte(market: Market, synthetic: SyntheticProvider):
    """A 91-day put with roll_dte 21 is sold on the first close with 21 or fewer calendar days left."""
    first = market.index_on_or_after(date(2019, 1, 2))
    scenario = Scenario("roll", first, first + 120, 1000.0, 60000.0, 0.75)
    policy = Policy.from_template(template_by_id(SYSTEM_TEMPLATES, "protective_put_atm"))
    book = MarkBook(synthetic)
    plan = book.plan(policy, scenario, np.ones(market.size, dtype=bool))
    expiry_ord = synthetic.contracts(policy.legs[0]).expiry_ord[first]
    rolled = plan.closes[0]
    assert plan.ends[0] == nb.END_ROLL
    assert expiry_ord - market.day_ord[rolled] <= 21 < expiry_ord - market.day_ord[rolled - 1]


def test_budget_cap_limits_premium_per_365_days(market: Market, synthetic: SyntheticProvider):
    """With a 1 % budget, an ATM 3-month put on 1,000 shares (about 4 % of the collateral) is cut to
    floor(10 x budget / cost) contracts, and the premium paid in any trailing 365 days stays within
    1 % of the collateral value on the day it was paid."""
    first = market.index_on_or_after(date(2015, 1, 2))
    scenario = Scenario("budget", first, first + 400, 1000.0, 0.6 * 1000 * market.close[first], 0.75)
    policy = Policy.from_template(template_by_id(SYSTEM_TEMPLATES, "protective_put_atm"), 1.0, 0.01)
    run = run_scenario(synthetic, scenario, [policy], np.ones(market.size, dtype=bool))[0]
    reference = reference_replay(synthetic, scenario, policy, np.ones(market.size, dtype=bool))
    _agree(summary_row(run, market), reference, "budget")
    free = run_scenario(synthetic, scenario, [dataclasses.replace(policy, budget_cap=None)],
                        np.ones(market.size, dtype=bool))[0]
    assert 0 < run.totals[nb.TOTAL_COST] < free.totals[nb.TOTAL_COST]
    opens = run.plan.opens
    cash = np.diff(np.concatenate(([0.0], run.paths[nb.PATH_CASH])))
    for open_day in opens:
        window = [o for o in opens if market.day_ord[open_day] - 365 < market.day_ord[o] <= market.day_ord[open_day]]
        paid = sum(max(cash[o - first], 0.0) for o in window)
        assert paid <= 0.01 * 1000 * market.close[open_day] + 1e-6


def test_alma_hand_computed():
    """window 3, offset 0.85, sigma 6: m = 0.85 x 2 = 1.7, s = 3 / 6 = 0.5;
    raw weights exp(-(i - 1.7)^2 / 0.5) for i = 0, 1, 2: exp(-5.78) = 0.0030887, exp(-0.98) = 0.3753111,
    exp(-0.18) = 0.8352702; sum 1.2136700. On closes 10, 11, 13 (oldest first):
    (10 x 0.0030887 + 11 x 0.3753111 + 13 x 0.8352702) / 1.2136700 = 12.3739 (to 4 decimals)."""
    out = nb.alma_nb(np.array([10.0, 11.0, 13.0, 12.0]), 3, 0.85, 6.0)
    assert np.isnan(out[:2]).all()
    assert out[2] == pytest.approx(12.3739, abs=5e-5)
    w = np.exp(-((np.arange(3) - 1.7) ** 2) / 0.5)
    assert out[3] == pytest.approx((11 * w[0] + 13 * w[1] + 12 * w[2]) / w.sum(), rel=1e-14)
    assert trend_signal(np.array([10.0, 11.0, 13.0, 12.0]), 3, 0.85, 6.0).tolist() == [True, True, False, True]


def test_bad_policy_and_scenario_name_the_field():
    with pytest.raises(ValueError, match="roll_dte=90"):
        Policy("p", (Leg("P", "long", 1.0, 1.0, 91),), 90)
    with pytest.raises(ValueError, match="hedge_ratio=1.5"):
        Policy("p", (Leg("P", "long", 1.0),), 21, 1.5)
    with pytest.raises(ValueError, match="loan=0"):
        Scenario("e", 0, 5, 1000.0, 0.0, 0.75)
