"""Monte Carlo margin-call probability (pipeline/backtest/montecarlo.py), against independent references.

The kernel is checked against `reference_first_breach`, plain loops over paths and steps that call
the same counter-based draw per step and price hedges with the exact American kernel instead of the
grid; the bootstrap against its hand-computed statistics; a constant-return history against the
closed-form breach step; the Wilson interval against hand numbers.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from datetime import datetime, timezone

import duckdb
import numba
import numpy as np
import polars as pl
import pytest
from scipy.stats import chi2

from pipeline.backtest import montecarlo as mc
from pipeline.backtest.montecarlo_nb import bootstrap_indices_nb, uniform_nb
from pipeline.market import embedded
from pipeline.portfolio.positions import kernel_price, market_surface
from pipeline.strategies.templates import SYSTEM_TEMPLATES, Leg, Template
from pipeline.warehouse import SCHEMA_DIR

NOW = datetime(2026, 10, 7, tzinfo=timezone.utc)
SHARES = 1000.0
CALL_LTV = 0.75
CUSTOM = (
    Template("put_30d_to_expiry", "30-day ATM put held to expiry", "custom", (Leg("P", "long", 1.0, 1.0, 30),),
             roll_dte=0, source="user"),
    Template("mixed_tenor", "97 % put 60 d, short 105 % call 120 d", "custom",
             (Leg("P", "long", 0.97, 0.6, 60), Leg("C", "short", 1.05, 0.4, 120)), roll_dte=10, source="user"),
)
TEMPLATES = SYSTEM_TEMPLATES + CUSTOM


@pytest.fixture(scope="module")
def history() -> pl.DataFrame:
    """Every GLD day since 2004 with its ATM vol and rate (the embedded real data)."""
    return market_surface(embedded.load_prices("GLD", NOW), embedded.load_gvz(NOW), embedded.load_rates(NOW))


@pytest.fixture(scope="module")
def grid(history: pl.DataFrame) -> mc.PriceGrid:
    return mc.price_grid(history, TEMPLATES)


def loan_at(history: pl.DataFrame, ltv: float) -> float:
    return ltv * SHARES * float(history["close"][-1])


def reference_first_breach(history: pl.DataFrame, loan: float, templates: tuple[Template, ...], *, paths: int,
                           steps: int, seed: int, mean_block: float, hedge_ratio: float
                           ) -> tuple[np.ndarray, np.ndarray]:
    """First breach step per (path, policy) with exact American prices, and the near-tie flags.

    Obvious loops: per path draw the source day of each step (a new block at step 1 and with
    probability 1 / mean_block, else the next day, wrapping), accumulate the log returns; per template
    buy the legs at step 0, roll them all once the nearest has <= roll_dte days left (a roll step is
    tested with the old and the new legs), price every leg on every step. near_tie[p, policy, k] is
    True when |collateral + hedges - loan / call| at step k is within the grid's stated error bound.
    """
    close = history["close"].to_list()
    vols, rates = history["atm_vol"].to_list(), history["rate"].to_list()
    n_source = len(close) - 1
    floor = loan / CALL_LTV
    never = steps + 1
    spot_paths = []
    for p in range(paths):
        states = [(close[-1], vols[-1], rates[-1])]
        log_spot, j = math.log(close[-1]), 0
        for k in range(1, steps + 1):
            if k == 1 or uniform_nb(seed, p, k, 0) < 1.0 / mean_block:
                j = min(int(uniform_nb(seed, p, k, 1) * n_source), n_source - 1)
            else:
                j = (j + 1) % n_source
            log_spot += math.log(close[j + 1] / close[j])
            states.append((math.exp(log_spot), vols[j + 1], rates[j + 1]))
        spot_paths.append(states)

    rows = []  # (units, is_call, spot, strike, t, vol, rate): one per leg priced
    phases: dict[tuple[int, int, int], list[list[int]]] = {}  # (path, policy, step) -> rows of each tested hedge
    for p, states in enumerate(spot_paths):
        for i, template in enumerate(templates, start=1):
            strikes = [leg.moneyness * states[0][0] for leg in template.legs]
            bought = 0
            for k, (spot, vol, rate) in enumerate(states):
                tested = [((k - bought) * 365 / 252, list(strikes))]
                if k > 0 and min(leg.tenor_days for leg in template.legs) - tested[0][0] <= template.roll_dte:
                    strikes = [leg.moneyness * spot for leg in template.legs]
                    bought = k
                    tested.append((0.0, list(strikes)))
                for held, held_strikes in tested:
                    phases.setdefault((p, i, k), []).append(list(range(len(rows), len(rows) + len(template.legs))))
                    rows += [(leg.sign * hedge_ratio * leg.weight * SHARES, leg.option_right == "C", spot, strike,
                              (leg.tenor_days - held) / 365, vol, rate)
                             for leg, strike in zip(template.legs, held_strikes)]
    units, is_call, spot, strike, t, vol, rate = (np.array(column) for column in zip(*rows))
    price = np.where(is_call, np.maximum(spot - strike, 0.0), np.maximum(strike - spot, 0.0))
    live = t > 0
    price[live] = kernel_price(is_call[live], spot[live], strike[live], t[live], rate[live], vol[live])

    first = np.full((paths, 1 + len(templates)), never)
    near_tie = np.zeros((paths, 1 + len(templates), steps + 1), dtype=bool)
    for p, states in enumerate(spot_paths):
        first[p, 0] = next((k for k, (s, _, _) in enumerate(states) if loan / (SHARES * s) >= CALL_LTV), never)
    for (p, i, k), tested_rows in phases.items():
        collateral = SHARES * spot_paths[p][k][0]
        covered = [collateral + float(np.sum(units[r] * price[r])) for r in tested_rows]
        margins = [c - floor for c in covered]
        bound = float(np.sum(np.abs(units[tested_rows[0]]))) * mc.GRID_PRICE_ERROR_BOUND * spot_paths[p][k][0]
        near_tie[p, i, k] = any(abs(m) <= bound for m in margins)
        if first[p, i] == never and any(c <= 0 or loan / c >= CALL_LTV for c in covered):
            first[p, i] = k
    return first, near_tie


def test_kernel_matches_the_plain_reference(history: pl.DataFrame, grid: mc.PriceGrid):
    """200 paths x 60 steps, start LTV 72 %, call 75 %, hedge ratio 0.8, 8 system + 2 user templates.

    Unhedged first breaches are identical. Hedged ones may differ only where the reference's exact
    collateral + hedges lay within the grid's error bound of loan / call at the first step where
    the two disagree (the grid can tip that step either way); at most 3 such (path, template) cases
    are allowed. Deterministic: with this seed there are none, among 120 near-tie steps.
    """
    loan = loan_at(history, 0.72)
    inputs = mc.simulation_inputs(history, SHARES, loan, CALL_LTV, TEMPLATES, hedge_ratio=0.8)
    got = mc.first_breach_steps(inputs, grid, paths=200, seed=42, mean_block_days=5.0, steps=60)
    want, near_tie = reference_first_breach(history, loan, TEMPLATES, paths=200, steps=60, seed=42, mean_block=5.0,
                                            hedge_ratio=0.8)
    assert got.shape == want.shape == (200, 1 + len(TEMPLATES))
    np.testing.assert_array_equal(got[:, 0], want[:, 0])
    assert 40 < (want[:, 0] <= 60).sum() < 180  # the case is not degenerate
    assert (want[:, 1:] <= 60).sum() > 200  # hedged breaches too, in most templates
    assert (want[:, 1:] <= 60).any(axis=0).sum() >= 8
    differ = np.argwhere(got != want)
    for p, policy in differ:
        first_disagreement = min(got[p, policy], want[p, policy])
        assert near_tie[p, policy, first_disagreement], (p, inputs.policy_ids[policy], got[p, policy], want[p, policy])
    assert len(differ) <= 3


def test_which_templates_can_never_be_worth_less_than_zero():
    """Long-only and covered shorts (the 95 / 80 put spread) can skip pricing; the collar cannot, nor a
    short put struck above its long one, nor a short leg of another tenor or a larger weight."""
    assert [t.template_id for t in SYSTEM_TEMPLATES if not mc.hedge_value_is_nonnegative(t)] == ["collar_95_110"]
    spread = lambda long, short: Template("x", "x", "custom", (long, short))  # noqa: E731
    assert mc.hedge_value_is_nonnegative(spread(Leg("C", "long", 1.05), Leg("C", "short", 1.10)))
    assert not mc.hedge_value_is_nonnegative(spread(Leg("P", "long", 0.90), Leg("P", "short", 0.95)))
    assert not mc.hedge_value_is_nonnegative(spread(Leg("P", "long", 0.95, tenor_days=60), Leg("P", "short", 0.80)))
    assert not mc.hedge_value_is_nonnegative(spread(Leg("P", "long", 0.95, 0.5), Leg("P", "short", 0.80, 0.6)))
    assert not mc.hedge_value_is_nonnegative(Template("x", "x", "custom", (Leg("P", "long", 0.95), Leg("P", "short", 0.80),
                                                                            Leg("P", "short", 0.70))))


def test_seeded_and_reproducible(history: pl.DataFrame):
    """Same seed: the same frame; another seed: different probabilities."""
    loan = loan_at(history, 0.70)
    run = lambda seed: mc.margin_call_probability(history, SHARES, loan, CALL_LTV, SYSTEM_TEMPLATES[:3],  # noqa: E731
                                                  paths=2000, seed=seed, mean_block_days=20.0)
    first = run(7)
    assert first.equals(run(7))
    assert not first["probability"].equals(run(8)["probability"])


def test_results_do_not_depend_on_the_number_of_threads(history: pl.DataFrame, grid: mc.PriceGrid):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    inputs = mc.simulation_inputs(history, SHARES, loan_at(history, 0.70), CALL_LTV, TEMPLATES)
    before = numba.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            numba.set_num_threads(threads)
            results.append(mc.first_breach_steps(inputs, grid, paths=3000, seed=5, mean_block_days=20.0))
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[1])


def test_bootstrap_with_mean_block_one_draws_days_uniformly():
    """Mean block 1: every step starts a block, so 100,000 draws over 50 days are uniform.

    Pearson's statistic sum (n_i - 2000)^2 / 2000 over the 50 days is chi-square with 49 degrees of
    freedom under uniformity; it must stay below its 99.99 % quantile (about 95.4).
    """
    indices = bootstrap_indices_nb(50, 2000, 50, 11, 1.0)
    counts = np.bincount(indices.ravel(), minlength=50)
    assert counts.size == 50 and counts.sum() == 100_000
    assert ((counts - 2000.0) ** 2 / 2000.0).sum() < chi2.ppf(0.9999, 49)


def test_bootstrap_blocks_have_the_mean_length():
    """Mean block 25 over 5,000 source days, 2,000 paths x 365 steps.

    On each of steps 2..365 a block restarts with probability p = 1/25, so the expected number of
    restarts is 364 x 2000 / 25 = 29,120 (sd sqrt(728,000 x 0.04 x 0.96) = 167), of which 1/5,000
    land on the next day anyway and cannot be seen: 29,114 visible. Mean block length = 728,000 /
    visible restarts = 25.00, +- 0.14 (1 sd): allow 0.75. Blocks wrap from the last day to the first.
    """
    n_source = 5000
    indices = bootstrap_indices_nb(n_source, 2000, 365, 3, 1.0 / 25.0)
    continued = indices[:, 1:] == (indices[:, :-1] + 1) % n_source
    restarts = (~continued).sum()
    assert abs(continued.size / restarts - 25.0) < 0.75
    assert (indices[:, :-1] == n_source - 1).any() and (continued & (indices[:, 1:] == 0)).any()


def constant_history(days: int = 300) -> pl.DataFrame:
    """Closes 100 x 0.99^i: every daily log return is ln 0.99; ATM vol 20 %, rate 3 %."""
    return pl.DataFrame({"date": [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(days)],
                         "close": [100.0 * 0.99 ** i for i in range(days)],
                         "atm_vol": [0.20] * days, "rate": [0.03] * days})


def test_constant_returns_give_the_hand_computed_breach_steps():
    """Every step is -1 %, so every path is the same: S_k = S_0 0.99^k.

    Unhedged, start LTV 0.70, call 0.75: LTV_k = 0.70 / 0.99^k >= 0.75 once
    k >= ln(0.70 / 0.75) / ln(0.99) = -0.068993 / -0.010050 = 6.865, i.e. at step 7
    (0.99^7 = 0.93207 <= 0.93333 < 0.94148 = 0.99^6).
    ATM put on all the shares: collateral + put >= shares x K = shares x S_0, so LTV <= 0.70 until
    the roll, at step ceil((91 - 21) / (365 / 252)) = ceil(48.33) = 49. Re-struck there at
    S_49 = 0.99^49 S_0 = 0.6111 S_0, the new ATM put is worth a few % of spot: LTV about
    0.70 / (0.6111 x 1.04) = 1.10 >= 0.75, a breach on the roll step itself.
    """
    history = constant_history()
    start = float(history["close"][-1])
    frame = mc.margin_call_probability(history, 10.0, 0.70 * 10.0 * start, 0.75, (SYSTEM_TEMPLATES[0],),
                                       paths=500, seed=1, mean_block_days=20.0, horizons=(6, 7, 48, 49))
    probability = {(row["policy_id"], row["horizon_days"]): row["probability"] for row in frame.to_dicts()}
    assert probability == {("unhedged", 6): 0.0, ("unhedged", 7): 1.0, ("unhedged", 48): 1.0,
                           ("unhedged", 49): 1.0, ("protective_put_atm", 6): 0.0, ("protective_put_atm", 7): 0.0,
                           ("protective_put_atm", 48): 0.0, ("protective_put_atm", 49): 1.0}
    assert frame["start_ltv"].to_list() == pytest.approx([0.70] * 8)
    assert frame["start_date"][0] == dt.date(2020, 10, 26)


def test_wilson_interval_matches_a_hand_computation():
    """z = 1.959964, z^2 = 3.841459. k = 10 of n = 100: p = 0.1, z^2/n = 0.0384146,
    centre = (0.1 + 0.0192073) / 1.0384146 = 0.114797,
    half = 1.959964 sqrt(0.0009 + 3.841459 / 40000) / 1.0384146 = 1.959964 x 0.0315600 / 1.0384146 = 0.059568
    -> (0.055229, 0.174366). k = 0: (0, 0.0384146 / 1.0384146 = 0.036993). k = n = 100: (0.963007, 1).
    """
    low, high = mc.wilson_interval(np.array([10, 0, 100]), 100)
    np.testing.assert_allclose(low, [0.055229, 0.0, 0.963007], atol=2e-6)
    np.testing.assert_allclose(high, [0.174366, 0.036993, 1.0], atol=2e-6)


def test_grid_error_is_within_the_stated_bound(history: pl.DataFrame, grid: mc.PriceGrid):
    """20,000 leg states drawn like the simulation's (system and user templates): |grid - American
    kernel| <= GRID_PRICE_ERROR_BOUND x spot (docs/montecarlo.md: measured max 1.2e-4)."""
    states = mc.leg_states(history, TEMPLATES, 20_000, 2024, 20.0)
    error = np.abs(mc.grid_error(grid, states))
    assert error.max() <= mc.GRID_PRICE_ERROR_BOUND
    assert error.mean() < mc.GRID_PRICE_ERROR_BOUND / 10


def test_grid_is_exact_at_expiry_and_never_below_intrinsic(grid: mc.PriceGrid):
    """t <= 0: intrinsic exactly; t > 0: at least intrinsic (the time value on the grid is >= 0)."""
    strike = np.array([90.0, 100.0, 110.0, 90.0, 110.0, 100.0])
    is_call = np.array([False, False, False, True, True, True])
    t = np.array([0.0, 0.0, -0.01, 0.0, 0.1, 0.5])
    price = mc.grid_price(grid, is_call, 100.0, strike, t, 0.2, 0.03)
    np.testing.assert_array_equal(price[:4], [0.0, 0.0, 10.0, 10.0])
    assert price[4] > 0 and price[5] > 0


def test_frame_has_the_table_layout(history: pl.DataFrame):
    """The rows load into analytics.margin_call_probability as declared (keys and NOT NULL enforced)."""
    frame = mc.margin_call_probability(history, SHARES, loan_at(history, 0.70), CALL_LTV, SYSTEM_TEMPLATES,
                                       paths=1000, seed=3, mean_block_days=20.0)
    assert frame.height == 4 * 9
    assert frame["method"].unique().to_list() == ["stationary_block_bootstrap(mean_block=20)"]
    assert (frame["ci_low"] <= frame["probability"]).all() and (frame["probability"] <= frame["ci_high"]).all()
    by_policy = frame.sort("horizon_days").group_by("policy_id", maintain_order=True).agg("probability")
    assert all(p.to_list() == sorted(p) for p in by_policy["probability"])  # a breach by 30 days is one by 90 too
    conn = duckdb.connect(":memory:")
    conn.execute((SCHEMA_DIR / "schema" / "60_analytics_backtest.sql").read_text())
    conn.execute("SET VARIABLE vault_run_id = 'test'")
    conn.execute("SET VARIABLE vault_methodology_version = 'test'")
    conn.register("frame", frame.to_arrow())
    conn.execute("INSERT INTO analytics.margin_call_probability BY NAME SELECT * FROM frame")
    stored = conn.sql("SELECT * EXCLUDE (methodology_version, run_id) FROM analytics.margin_call_probability "
                      "ORDER BY horizon_days, policy_id").pl()
    assert stored.columns == frame.columns
    assert stored.equals(frame.sort("horizon_days", "policy_id"))


@pytest.mark.parametrize(("change", "message"), [
    (dict(margin_call_ltv=1.2), "margin_call_ltv: must be between 0 and 1 (got 1.2)"),
    (dict(shares=-5.0), "shares: must be a finite number > 0 (got -5.0)"),
    (dict(paths=0), "paths: must be an integer >= 1 (got 0)"),
    (dict(seed=-1), "seed: must be an integer in 0 .. 2^63 - 1 (got -1)"),
    (dict(mean_block_days=0.5), "mean_block_days: must be >= 1 (got 0.5)"),
    (dict(horizons=(30, 0)), "horizons: must be integers >= 1 (got (30, 0))"),
    (dict(templates=(SYSTEM_TEMPLATES[0], SYSTEM_TEMPLATES[0])), "templates.1.template_id: must be unique"),
    (dict(history_close=-1.0), "history.close: must be finite and > 0 (first bad row 2020-01-06) (got -1.0)"),
])
def test_bad_input_names_the_field_and_value(change: dict, message: str):
    history = constant_history(20)
    if "history_close" in change:
        history = history.with_columns(close=pl.when(pl.int_range(pl.len()) == 5).then(change.pop("history_close"))
                                       .otherwise(pl.col("close")))
    args = dict(shares=10.0, loan=500.0, margin_call_ltv=0.75, templates=SYSTEM_TEMPLATES[:1], paths=10, seed=1,
                mean_block_days=5.0) | change
    with pytest.raises(ValueError, match=re.escape(message)):
        mc.margin_call_probability(history, **args)


def test_history_needs_its_columns():
    with pytest.raises(ValueError, match="history: needs columns"):
        mc.margin_call_probability(constant_history().drop("rate"), 10.0, 500.0, 0.75, (), paths=10, seed=1,
                                   mean_block_days=5.0)
