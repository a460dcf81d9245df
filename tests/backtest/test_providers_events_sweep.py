"""Snapshot and mixed providers, event presets, and the sweep against the one-policy engine."""

from __future__ import annotations

import random
from datetime import date, datetime, timezone

import numpy as np
import polars as pl
import pytest

from pipeline.backtest import engine_nb as nb
from pipeline.backtest import sweep
from pipeline.backtest.engine import Policy, Scenario, run_scenario, summary_row
from pipeline.backtest.events import PRESET_EVENTS, events_for, events_frame, replayable
from pipeline.backtest.providers import (SOURCE_CARRIED, SOURCE_SNAPSHOT, SOURCE_SYNTHETIC, Market, SnapshotProvider,
                                         SyntheticProvider, make_provider)
from pipeline.config import BacktestSettings
from pipeline.market import embedded
from pipeline.pricing.chain import model_chain, value_quotes
from pipeline.strategies.templates import Leg

VENDOR_DAYS = (date(2026, 3, 2), date(2026, 3, 4))


@pytest.fixture(scope="module")
def vendor_chains(market: Market) -> pl.DataFrame:
    """Two days of 'vendor' chains (model quotes relabelled as observed rows) in the valuations layout."""
    now = datetime(2026, 12, 7, tzinfo=timezone.utc)
    rates = embedded.load_rates(now)
    frames = []
    for day in VENDOR_DAYS:
        i = market.index_on_or_before(day)
        quotes = model_chain(day, float(market.close[i]), float(market.atm_vol[i]), float(market.rate[i]), now)
        frames.append(value_quotes(quotes, rates).with_columns(source=pl.lit("vendor")))
    model_day = market.index_on_or_before(date(2026, 3, 3))
    model = model_chain(date(2026, 3, 3), float(market.close[model_day]), 0.2, 0.04, now)
    return pl.concat([*frames, value_quotes(model, rates)], how="vertical_relaxed")


def test_snapshot_provider_picks_that_days_contract_and_carries_marks(market: Market, vendor_chains: pl.DataFrame):
    """Only vendor days can open (the 'model' day is not an observation); a contract bought on
    2026-03-02 is marked at its quote's mid on 03-02 and 03-04 and carried on 03-03."""
    provider = make_provider("snapshots", market, vendor_chains)
    leg = Leg("P", "long", 0.95, 1.0, 91)
    offers = provider.contracts(leg)
    openable = [market.day(i) for i in np.flatnonzero(np.isfinite(offers.strike))]
    assert openable == list(VENDOR_DAYS)
    first = market.index_on_or_before(VENDOR_DAYS[0])
    scenario = Scenario("snap", first, first + 2, 1000.0, 300000.0, 0.75)
    run = run_scenario(provider, scenario, [Policy("p", (leg,), 21)], np.ones(market.size, dtype=bool))[0]
    assert run.source.tolist() == [SOURCE_SNAPSHOT, SOURCE_CARRIED, SOURCE_SNAPSHOT]
    day0 = vendor_chains.filter((pl.col("snapshot_date") == VENDOR_DAYS[0]) & (pl.col("source") == "vendor")
                                & (pl.col("strike") == offers.strike[first]) & (pl.col("option_right") == "P"))
    expiry = date.fromordinal(date(1970, 1, 1).toordinal() + int(offers.expiry_ord[first]))
    quote = day0.filter(pl.col("expiry") == expiry).row(0, named=True)
    contracts = 10
    assert run.paths[nb.PATH_HEDGE, 0] == pytest.approx(contracts * 100 * quote["mid"])
    assert run.totals[nb.TOTAL_COST] == pytest.approx(contracts * 100 * quote["ask"])
    assert run.paths[nb.PATH_HEDGE, 1] == run.paths[nb.PATH_HEDGE, 0]


def test_mixed_uses_snapshots_where_quoted_and_synthetic_elsewhere(market: Market, vendor_chains: pl.DataFrame):
    mixed = make_provider("mixed", market, vendor_chains)
    synthetic = SyntheticProvider(market)
    leg = Leg("P", "long", 1.0, 1.0, 91)
    before = market.index_on_or_before(date(2026, 2, 27))
    assert mixed.contracts(leg).strike[before] == synthetic.contracts(leg).strike[before]
    scenario = Scenario("mixed", before, before + 3, 1000.0, 300000.0, 0.75)
    run = run_scenario(mixed, scenario, [Policy("p", (leg,), 21)], np.ones(market.size, dtype=bool))[0]
    # bought on 02-27 from the model (not a listed strike), so no vendor row quotes it later
    assert set(run.source.tolist()) == {SOURCE_SYNTHETIC}
    on_vendor_day = market.index_on_or_before(VENDOR_DAYS[0])
    assert mixed.contracts(leg).strike[on_vendor_day] in set(vendor_chains["strike"].to_list())


def test_snapshot_choice_uses_that_day_only(market: Market, vendor_chains: pl.DataFrame):
    """Dropping the later vendor day leaves the contract chosen on the first one unchanged."""
    leg = Leg("P", "long", 0.9, 1.0, 61)
    full = make_provider("snapshots", market, vendor_chains).contracts(leg)
    early = make_provider("snapshots", market, vendor_chains.filter(pl.col("snapshot_date") < VENDOR_DAYS[1]))
    i = market.index_on_or_before(VENDOR_DAYS[0])
    assert early.contracts(leg).strike[i] == full.strike[i]
    assert early.contracts(leg).expiry_ord[i] == full.expiry_ord[i]


def test_presets_have_the_issue_ids_and_dates(market: Market):
    frame = events_frame(market, PRESET_EVENTS, 20)
    assert frame.filter(pl.col("event_id") == "jan_2026").select("start_date", "end_date").row(0) == (
        date(2026, 1, 29), date(2026, 2, 2))
    assert frame.filter(pl.col("event_id") == "gfc_2008").select("start_date", "end_date").row(0) == (
        date(2008, 3, 17), date(2008, 11, 12))
    full = frame.filter(pl.col("event_id") == "full").row(0, named=True)
    assert (full["start_date"], full["end_date"], full["path_end_date"]) == (
        date(2004, 11, 18), market.day(market.size - 1), market.day(market.size - 1))
    jan = frame.filter(pl.col("event_id") == "jan_2026").row(0, named=True)
    assert jan["trading_days"] == 3 + 20  # 01-29, 01-30, 02-02 and a 20-close tail
    assert jan["drawdown"] == pytest.approx(427.13 / 495.90 - 1)


def test_user_events_are_added_and_may_not_reuse_a_preset_id():
    settings = BacktestSettings(events=[{"id": "my_window", "start": date(2024, 4, 12), "end": date(2024, 5, 3)}])
    assert events_for(settings)[-1].event_id == "my_window"
    with pytest.raises(ValueError, match="backtest.events.0.id='jan_2026'"):
        events_for(BacktestSettings(events=[{"id": "jan_2026", "start": date(2024, 1, 2), "end": date(2024, 2, 1)}]))


def test_grid_has_at_least_ten_thousand_valid_policies():
    grid = sweep.sweep_grid()
    assert len(grid) >= 10_000 and len({p.policy_id for p in grid}) == len(grid)
    assert all(p.roll_dte <= p.tenor_days - 7 for p in grid)
    assert sum(len(sweep.sweep_grid(f)) for f in sweep.FAMILIES) == len(grid)


def test_sweep_equals_one_policy_runs(market: Market, synthetic: SyntheticProvider):
    """Sweep rows (shared marks, hedge ratios in one kernel call) agree with replaying each policy alone."""
    first = market.index_on_or_after(date(2013, 1, 2))
    scenarios = [Scenario("a", first, first + 150, 1000.0, 0.65 * 1000 * market.close[first], 0.75),
                 Scenario("full", first - 300, first + 400, 1000.0, 0.6 * 1000 * market.close[first - 300], 0.75)]
    signal = np.asarray(random.Random(1).choices([True, False], k=market.size))
    priced = sweep.price_family(synthetic, scenarios, signal, "tenor_61d")
    results = sweep.replay_family(priced)
    for p in random.Random(7).sample(sweep.sweep_grid("tenor_61d"), 12):
        for s, row in zip(scenarios, results[p.policy_id]):
            alone = summary_row(run_scenario(synthetic, s, [p.policy()], signal)[0], market)
            assert row[nb.SUM_MAX_LTV] == pytest.approx(alone["max_ltv"], rel=1e-12)
            assert row[nb.SUMMARY_SIZE + nb.TOTAL_COST] == pytest.approx(alone["hedge_cost_total"], rel=1e-12)
            assert (row[nb.SUM_FIRST_BREACH] < 0) == alone["survived"]


def test_pareto_front_and_optimum_against_brute_force():
    rng = np.random.default_rng(3)
    cost, worst = rng.uniform(0, 1, 300).round(2), rng.uniform(0.5, 1.2, 300).round(2)
    dominated = [any(cost[j] <= cost[i] and worst[j] <= worst[i] and (cost[j] < cost[i] or worst[j] < worst[i])
                     for j in range(300)) for i in range(300)]
    assert sweep.pareto_front(cost, worst).tolist() == [not d for d in dominated]
    rows = pl.DataFrame({"policy_id": [f"p{i}" for i in range(300)], "family": "f", "moneyness": 1.0,
                         "tenor_days": 91, "roll_dte": 21, "hedge_ratio": 1.0, "ladder_rungs": 1, "signal": False,
                         "events": 11, "events_survived": 11, "survived_all": worst < 0.75, "worst_max_ltv": worst,
                         "total_cost": cost, "cost_annualised_pct": cost})
    _, optimum = sweep.finish_sweep(rows, 0.75, 0.05)
    pick = optimum.filter(pl.col("kind") == "optimum").row(0, named=True)
    eligible = [(cost[i], worst[i]) for i in range(300) if worst[i] <= 0.70]
    assert (pick["cost_annualised_pct"], pick["worst_max_ltv"]) == min(eligible)


def test_a_user_window_after_the_last_close_waits_for_its_data(market: Market):
    settings = BacktestSettings(events=[{"id": "next_year", "start": date(2027, 3, 1), "end": date(2027, 4, 1)}])
    events = events_for(settings)
    assert [e.event_id for e in replayable(events, market)] == [e.event_id for e in PRESET_EVENTS]
    assert "next_year" not in events_frame(market, events, 20)["event_id"].to_list()
