"""Monte Carlo probability of a margin call within 30 / 90 / 180 / 365 trading days, hedged and unhedged.

`margin_call_probability` is the entry point (pure: frames in, `analytics.margin_call_probability`
rows out). Paths start from the history's last close and resample its days by a stationary block
bootstrap: each step takes one source day's log return together with that day's ATM vol and rate,
so hedges re-price at the vol of the sampled regime. Method, grid and measured error:
docs/montecarlo.md. The pieces, for benchmarks and tests:

- `price_grid(history, templates)`: the hedge-pricing grid (American kernel + skew model), built once;
- `simulation_inputs(...)`: the plain arrays the kernel reads;
- `first_breach_steps(inputs, grid, ...)`: the kernel run alone (what the benchmark times);
- `probability_frame(...)`: first breaches -> rows with 95 % Wilson intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final

import numpy as np
import polars as pl

from pipeline.backtest.montecarlo_nb import (
    CALENDAR_DAYS_PER_STEP,
    DAYS_PER_YEAR,
    bootstrap_indices_nb,
    first_breach_nb,
    grid_prices_nb,
)
from pipeline.portfolio.positions import kernel_price
from pipeline.pricing.api import _flatten
from pipeline.pricing.skew import MIN_T
from pipeline.strategies.templates import Leg, Template

UNHEDGED: Final = "unhedged"
HORIZONS: Final = (30, 90, 180, 365)
HISTORY_COLUMNS: Final = ("date", "close", "atm_vol", "rate")
WILSON_Z: Final = NormalDist().inv_cdf(0.975)

# Grid resolution (docs/montecarlo.md has the measured interpolation error).
GRID_D_MAX: Final = 5.0  # standardised moneyness covered; beyond it the edge value is used
GRID_D_NODES: Final = 241  # spacing 1/24: nodes at 0 (the intrinsic kink) and at +-4 (the skew clip)
GRID_SQRT_T_NODES: Final = 16  # uniform in sqrt t from one day to the longest tenor
GRID_VOL_NODES: Final = 12  # geometric: g bends most at low vol (carry terms scale as r sqrt t / vol)
GRID_VOL_PAD: Final = 0.01  # vol axis = the history's range widened by this on each side
GRID_RATE_PAD: Final = 0.0025  # likewise for rates
# Rate nodes: a node at 0 and dense ones just above, where the put's early-exercise premium sets in
# (American = European for r <= 0 < q) and curves most; then every GRID_RATE_STEP.
GRID_RATE_FINE: Final = (0.0, 0.0005, 0.001, 0.002, 0.004)
GRID_RATE_STEP: Final = 0.008
GRID_PRICE_ERROR_BOUND: Final = 2.5e-4
"""|grid price - American kernel| per unit spot on states drawn like the simulation's (measured max 1.9e-4)."""


@dataclass(frozen=True)
class PriceGrid:
    """Normalised time values (right, rate, vol, sqrt t, d), the rate and vol nodes, and
    (first node, spacing) of the uniform sqrt t and d axes."""

    rate_nodes: np.ndarray
    vol_nodes: np.ndarray
    values: np.ndarray
    axes: np.ndarray


@dataclass(frozen=True)
class SimulationInputs:
    """What `first_breach_nb` reads: source days, the start, the loan and the templates' legs."""

    log_returns: np.ndarray  # per source day: ln(close / previous close)
    vols: np.ndarray  # that day's ATM vol
    rates: np.ndarray  # that day's rate
    start_vol: float
    start_rate: float
    spot0: float
    shares: float
    collateral_floor: float  # loan / margin-call LTV: collateral + hedges at or below it is a breach
    leg_start: np.ndarray  # template i owns legs leg_start[i] .. leg_start[i + 1] - 1
    leg_is_call: np.ndarray
    leg_moneyness: np.ndarray
    leg_units: np.ndarray  # signed share-equivalents: sign x hedge ratio x weight x shares
    leg_tenor_days: np.ndarray
    roll_dte_days: np.ndarray
    nonnegative: np.ndarray  # per template: its value can never be < 0 (see hedge_value_is_nonnegative)
    policy_ids: tuple[str, ...]  # 'unhedged' then the template ids: the kernel's output columns


def rate_nodes(low: float, high: float) -> np.ndarray:
    """Rate nodes from `low` to `high`: the fixed candidates (GRID_RATE_FINE, GRID_RATE_STEP multiples) inside."""
    steps = np.arange(math.floor(low / GRID_RATE_STEP), math.ceil(high / GRID_RATE_STEP) + 1) * GRID_RATE_STEP
    candidates = np.union1d(GRID_RATE_FINE, steps)
    return np.concatenate([[low], candidates[(candidates > low) & (candidates < high)], [high]])


def grid_axes(history: pl.DataFrame, templates: tuple[Template, ...]) -> list[np.ndarray]:
    """Node values per axis (rate, vol, sqrt t, d) covering the history's vols and rates and every tenor."""
    vols, rates = history["atm_vol"], history["rate"]
    longest = max((leg.tenor_days for t in templates for leg in t.legs), default=1)
    return [
        rate_nodes(float(rates.min()) - GRID_RATE_PAD, float(rates.max()) + GRID_RATE_PAD),
        np.geomspace(max(float(vols.min()) - GRID_VOL_PAD, GRID_VOL_PAD), float(vols.max()) + GRID_VOL_PAD,
                     GRID_VOL_NODES),
        np.linspace(math.sqrt(MIN_T), math.sqrt(max(longest / DAYS_PER_YEAR, 2 * MIN_T)), GRID_SQRT_T_NODES),
        np.linspace(-GRID_D_MAX, GRID_D_MAX, GRID_D_NODES),
    ]


def price_grid(history: pl.DataFrame, templates: tuple[Template, ...]) -> PriceGrid:
    """The American kernel (skew vol, GLD's q) on every grid node, as normalised time value.

    At a node (d, s = sqrt t, vol, rate) with spot 1: strike e^(d vol s), g = (price - intrinsic) / (vol s).
    """
    history = _checked_history(history)
    rate, vol, sqrt_t, d = grid_axes(history, templates)
    is_call = np.array([False, True])
    c, r, v, s, dd = np.meshgrid(is_call, rate, vol, sqrt_t, d, indexing="ij")
    strike = np.exp(dd * v * s)
    price = kernel_price(c.ravel(), np.ones(c.size), strike.ravel(), (s * s).ravel(), r.ravel(), v.ravel())
    intrinsic = np.where(c, np.maximum(1.0 - strike, 0.0), np.maximum(strike - 1.0, 0.0))
    values = np.ascontiguousarray((price.reshape(c.shape) - intrinsic) / (v * s))
    axes = np.array([sqrt_t[0], sqrt_t[1] - sqrt_t[0], d[0], d[1] - d[0]])
    return PriceGrid(rate, vol, values, axes)


def grid_price(grid: PriceGrid, is_call: np.ndarray, spot: np.ndarray, strike: np.ndarray, t: np.ndarray,
               atm_vol: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Per-share prices interpolated from `grid` (the kernel's pricing, over broadcasting arrays)."""
    shape, flat = _flatten(is_call, spot, strike, t, atm_vol, rate)
    return grid_prices_nb(*flat, grid.rate_nodes, grid.vol_nodes, grid.values, grid.axes).reshape(shape)


def _fail(field: str, problem: str, value: object) -> None:
    raise ValueError(f"{field}: {problem} (got {value!r})")


def _checked_history(history: pl.DataFrame) -> pl.DataFrame:
    """History sorted by date, with finite positive closes and vols and finite rates."""
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        _fail("history", f"needs columns {list(HISTORY_COLUMNS)}, missing {missing}", history.columns)
    history = history.select(HISTORY_COLUMNS).sort("date")
    if history.height < 2:
        _fail("history", "needs at least 2 days", history.height)
    for column, positive in (("close", True), ("atm_vol", True), ("rate", False)):
        values = history[column].cast(pl.Float64).to_numpy()
        bad = ~np.isfinite(values) | ((values <= 0) if positive else False)
        if bad.any():
            first = int(np.argmax(bad))
            _fail(f"history.{column}", f"must be finite{' and > 0' if positive else ''} "
                  f"(first bad row {history['date'][first]})", float(values[first]))
    return history


def _check_positive(field: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        _fail(field, "must be a finite number > 0", value)


def hedge_value_is_nonnegative(template: Template) -> bool:
    """True when every short leg is covered by its own long leg: same right and tenor, at least its
    weight, a strike at least as valuable (puts: moneyness >= the short's, calls: <=).

    American prices rise with a put's strike and fall with a call's, so such a template is worth
    >= 0 in every state: it cannot breach on a step where the collateral alone does not (e.g. the
    95 / 80 put spread; not the collar, whose short call is uncovered). Covers are picked greedily:
    a False where a cover exists only loses the speed-up.
    """
    def covers(long: Leg, short: Leg) -> bool:
        strike_ok = long.moneyness >= short.moneyness if short.option_right == "P" else long.moneyness <= short.moneyness
        return (long.option_right == short.option_right and long.tenor_days == short.tenor_days
                and long.weight >= short.weight and strike_ok)

    longs = [leg for leg in template.legs if leg.side == "long"]
    for short in (leg for leg in template.legs if leg.side == "short"):
        cover = next((leg for leg in longs if covers(leg, short)), None)
        if cover is None:
            return False
        longs.remove(cover)
    return True


def simulation_inputs(history: pl.DataFrame, shares: float, loan: float, margin_call_ltv: float,
                      templates: tuple[Template, ...], hedge_ratio: float = 1.0) -> SimulationInputs:
    """The kernel's arrays: source days (return, vol, rate) of `history`, the start and the legs."""
    history = _checked_history(history)
    _check_positive("shares", shares)
    _check_positive("loan", loan)
    _check_positive("hedge_ratio", hedge_ratio)
    if not 0 < margin_call_ltv < 1:
        _fail("margin_call_ltv", "must be between 0 and 1", margin_call_ltv)
    ids = [t.template_id for t in templates]
    for i, template_id in enumerate(ids):
        if template_id == UNHEDGED or template_id in ids[:i]:
            _fail(f"templates.{i}.template_id", "must be unique and not 'unhedged'", template_id)
    close = history["close"].to_numpy().astype(np.float64)
    legs = [leg for t in templates for leg in t.legs]
    return SimulationInputs(
        log_returns=np.diff(np.log(close)),
        vols=history["atm_vol"].to_numpy()[1:].astype(np.float64),
        rates=history["rate"].to_numpy()[1:].astype(np.float64),
        start_vol=float(history["atm_vol"][-1]),
        start_rate=float(history["rate"][-1]),
        spot0=float(close[-1]),
        shares=float(shares),
        collateral_floor=loan / margin_call_ltv,
        leg_start=np.cumsum([0] + [len(t.legs) for t in templates]).astype(np.int64),
        leg_is_call=np.array([leg.option_right == "C" for leg in legs], dtype=np.bool_),
        leg_moneyness=np.array([leg.moneyness for leg in legs], dtype=np.float64),
        leg_units=np.array([leg.sign * hedge_ratio * leg.weight * shares for leg in legs], dtype=np.float64),
        leg_tenor_days=np.array([leg.tenor_days for leg in legs], dtype=np.float64),
        roll_dte_days=np.array([t.roll_dte for t in templates], dtype=np.float64),
        nonnegative=np.array([hedge_value_is_nonnegative(t) for t in templates], dtype=np.bool_),
        policy_ids=(UNHEDGED, *ids),
    )


def _check_count(field: str, value: object) -> None:
    if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1):
        _fail(field, "must be an integer >= 1", value)


def first_breach_steps(inputs: SimulationInputs, grid: PriceGrid, *, paths: int, seed: int,
                       mean_block_days: float, steps: int = max(HORIZONS)) -> np.ndarray:
    """First breach step per path (rows) and policy (columns as `inputs.policy_ids`); steps + 1 = never.

    This is the simulation alone, on prebuilt inputs and grid: what benchmarks time.
    """
    _check_count("paths", paths)
    _check_count("steps", steps)
    if not (math.isfinite(mean_block_days) and mean_block_days >= 1):
        _fail("mean_block_days", "must be >= 1", mean_block_days)
    if not (isinstance(seed, (int, np.integer)) and 0 <= seed < 2**63):
        _fail("seed", "must be an integer in 0 .. 2^63 - 1", seed)
    return first_breach_nb(
        inputs.log_returns, inputs.vols, inputs.rates, inputs.start_vol, inputs.start_rate, inputs.spot0,
        inputs.shares, inputs.collateral_floor, steps, paths, seed, 1.0 / mean_block_days, inputs.leg_start,
        inputs.leg_is_call, inputs.leg_moneyness, inputs.leg_units, inputs.leg_tenor_days,
        inputs.roll_dte_days, inputs.nonnegative, grid.rate_nodes, grid.vol_nodes, grid.values, grid.axes,
    )


def wilson_interval(successes: np.ndarray, trials: int, z: float = WILSON_Z) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion (95 % with the default z); exactly 0 / 1 at the ends."""
    p = np.asarray(successes, dtype=np.float64) / trials
    z2n = z * z / trials
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * np.sqrt(p * (1 - p) / trials + z2n / (4 * trials)) / (1 + z2n)
    return np.where(p > 0, centre - half, 0.0), np.where(p < 1, centre + half, 1.0)


def method_label(mean_block_days: float) -> str:
    """The `method` column: how paths were drawn."""
    return f"stationary_block_bootstrap(mean_block={mean_block_days:g})"


def probability_frame(first_breach: np.ndarray, policy_ids: tuple[str, ...], horizons: tuple[int, ...], *,
                      seed: int, mean_block_days: float, start_date: object, start_ltv: float) -> pl.DataFrame:
    """`analytics.margin_call_probability` rows: share of paths whose first breach is at or before each horizon."""
    paths = first_breach.shape[0]
    horizon = np.repeat(np.asarray(horizons, dtype=np.int64), len(policy_ids))
    policy = np.tile(np.arange(len(policy_ids)), len(horizons))
    breached = (first_breach[:, policy] <= horizon).sum(axis=0)
    low, high = wilson_interval(breached, paths)
    return pl.DataFrame({
        "horizon_days": pl.Series(horizon, dtype=pl.Int32),
        "policy_id": [policy_ids[i] for i in policy],
        "probability": breached / paths,
        "ci_low": low,
        "ci_high": high,
        "paths": pl.Series([paths] * horizon.size, dtype=pl.Int32),
        "seed": pl.Series([seed] * horizon.size, dtype=pl.Int64),
        "method": [method_label(mean_block_days)] * horizon.size,
        "start_date": pl.Series([start_date] * horizon.size, dtype=pl.Date),
        "start_ltv": [start_ltv] * horizon.size,
    })


def margin_call_probability(history: pl.DataFrame, shares: float, loan: float, margin_call_ltv: float,
                            templates: tuple[Template, ...], *, paths: int, seed: int, mean_block_days: float,
                            hedge_ratio: float = 1.0, horizons: tuple[int, ...] = HORIZONS) -> pl.DataFrame:
    """Probability of a margin call within each horizon (trading days), unhedged and per template.

    history: date, close, atm_vol, rate per GLD day (`market_surface` layout); the simulation
    starts from its last close. Seeded: the same arguments give the same frame.
    """
    horizons = tuple(horizons)
    if not horizons or any(not isinstance(h, (int, np.integer)) or h < 1 for h in horizons):
        _fail("horizons", "must be integers >= 1", horizons)
    history = _checked_history(history)
    inputs = simulation_inputs(history, shares, loan, margin_call_ltv, templates, hedge_ratio)
    grid = price_grid(history, templates)
    first_breach = first_breach_steps(inputs, grid, paths=paths, seed=seed, mean_block_days=mean_block_days,
                                      steps=max(horizons))
    return probability_frame(first_breach, inputs.policy_ids, horizons, seed=seed,
                             mean_block_days=mean_block_days, start_date=history["date"][-1],
                             start_ltv=loan / (shares * inputs.spot0))


def leg_states(history: pl.DataFrame, templates: tuple[Template, ...], samples: int, seed: int,
               mean_block_days: float) -> dict[str, np.ndarray]:
    """Random leg states drawn like the simulation's, per unit spot: is_call, strike, t, atm_vol, rate.

    A random leg of a random template, held a random number of steps before its roll, on a
    bootstrapped path from the history (its strike/spot moved by the path's return).
    """
    inputs = simulation_inputs(history, 1.0, 0.5, 0.75, templates)  # only the legs and source days are used
    rng = np.random.default_rng(seed)
    leg = rng.integers(0, inputs.leg_moneyness.size, samples)
    template = np.searchsorted(inputs.leg_start, leg, side="right") - 1
    nearest = np.minimum.reduceat(inputs.leg_tenor_days, inputs.leg_start[:-1])[template]
    last_held = np.maximum(np.ceil((nearest - inputs.roll_dte_days[template]) / CALENDAR_DAYS_PER_STEP), 1)
    held = (rng.random(samples) * (last_held + 1)).astype(np.int64)
    steps = int(held.max()) + 1
    source = bootstrap_indices_nb(inputs.log_returns.size, samples, steps, seed, 1.0 / mean_block_days)
    moved = np.concatenate([np.zeros((samples, 1)), np.cumsum(inputs.log_returns[source], axis=1)], axis=1)
    day = source[np.arange(samples), np.maximum(held - 1, 0)]
    start = held == 0
    return {
        "is_call": inputs.leg_is_call[leg],
        "strike": inputs.leg_moneyness[leg] * np.exp(-moved[np.arange(samples), held]),
        "t": (inputs.leg_tenor_days[leg] - held * CALENDAR_DAYS_PER_STEP) / DAYS_PER_YEAR,
        "atm_vol": np.where(start, inputs.start_vol, inputs.vols[day]),
        "rate": np.where(start, inputs.start_rate, inputs.rates[day]),
    }


def grid_error(grid: PriceGrid, states: dict[str, np.ndarray]) -> np.ndarray:
    """Grid price minus the American kernel's, per unit spot, at `states` (from `leg_states`)."""
    spot = np.ones(states["t"].size)
    exact = kernel_price(states["is_call"], spot, states["strike"], states["t"], states["rate"], states["atm_vol"])
    return grid_price(grid, states["is_call"], spot, states["strike"], states["t"], states["atm_vol"],
                      states["rate"]) - exact
