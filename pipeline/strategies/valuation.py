"""Reprice a hedge's legs in another market: a shocked spot or vol, days later, or at expiry.

Every figure the strategy engine reports away from today's quotes goes through here, and here
through the portfolio layer's own repricing (`pipeline.portfolio.hedged`): the American kernel at
the day's surface (ATM vol + the skew model at strike / spot, the 3-month T-bill, q = GLD's expense
ratio), and the exact intrinsic value once a leg has expired. The hedged margin-call price is the
same solver `analytics.ltv_daily` uses for held hedges, grouped by template and scenario.

A scenario is a row of (spot_shock, vol_shock, horizon_days[, strike_scale]): the spot becomes
spot x (1 + spot_shock), the ATM vol atm_vol + vol_shock (floored at MIN_ATM_VOL), each leg has
horizon_days fewer days left (a leg that expires before the horizon is worth its payoff at the
scenario spot), and strikes are multiplied by strike_scale (1 unless re-struck).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np
import polars as pl

from pipeline.config import SHARES_PER_CONTRACT
from pipeline.portfolio.hedged import hedge_values_at, hedged_margin_call_prices

DAYS_PER_YEAR: Final = 365.0
MIN_ATM_VOL: Final = 0.01


@dataclass(frozen=True)
class DayMarket:
    """The inputs of one as_of day: GLD close, ATM vol (+ source), 3-month rate, chain source."""

    as_of: date
    spot: float
    atm_vol: float
    rate: float
    chain_source: str


def scenario_grid(**axes: Sequence[float]) -> pl.DataFrame:
    """The cross product of named scenario axes, e.g. spot_shock=[...], vol_shock=[...]."""
    grid = pl.DataFrame({"_": [0]})
    for name, values in axes.items():
        dtype = pl.Int32 if name == "horizon_days" else pl.Float64
        grid = grid.join(pl.DataFrame({name: pl.Series(list(values), dtype=dtype)}), how="cross")
    return grid.drop("_")


def scenario_positions(legs: pl.DataFrame, market: DayMarket, scenarios: pl.DataFrame | None) -> pl.DataFrame:
    """legs x scenarios in the positions layout that the portfolio repricing reads.

    `legs`: picked legs (pipeline.strategies.legs.PICKED_LEG_SCHEMA). `scenarios`: rows to cross
    with every leg, or None when each leg row already carries its own scenario columns. Output keeps
    the legs' and the scenarios' columns and adds gld_close, atm_vol, rate, t_years and the signed
    contracts the repricing expects (option_right 'put' / 'call', negative contracts for short legs).
    """
    frame = legs if scenarios is None else legs.join(scenarios, how="cross")
    for name, default in (("spot_shock", 0.0), ("vol_shock", 0.0), ("horizon_days", 0), ("strike_scale", 1.0)):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(default).alias(name))
    remaining = pl.max_horizontal(pl.col("dte") - pl.col("horizon_days"), pl.lit(0))
    return frame.rename({"option_right": "leg_right", "contracts": "leg_contracts", "strike": "leg_strike"}).with_columns(
        gld_close=market.spot * (1.0 + pl.col("spot_shock")),
        atm_vol=pl.max_horizontal(market.atm_vol + pl.col("vol_shock"), pl.lit(MIN_ATM_VOL)),
        rate=pl.lit(market.rate),
        strike=pl.col("leg_strike") * pl.col("strike_scale"),
        option_right=pl.when(pl.col("leg_right") == "P").then(pl.lit("put")).otherwise(pl.lit("call")),
        contracts=pl.col("sign").cast(pl.Int64) * pl.col("leg_contracts"),
        dte=remaining.cast(pl.Int64),
        t_years=remaining.cast(pl.Float64) / DAYS_PER_YEAR,
    )


def hedge_values(positions: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """[*keys, hedge_value]: each group's legs repriced at their own gld_close (USD, shorts negative)."""
    values = hedge_values_at(positions, positions["gld_close"].to_numpy())
    return (positions.select(keys).with_columns(hedge_value=pl.Series(values, dtype=pl.Float64))
            .group_by(keys, maintain_order=True).agg(pl.col("hedge_value").sum()))


def margin_call_prices(positions: pl.DataFrame, keys: Sequence[str], shares: float, loan: float,
                       margin_call_ltv: float) -> pl.DataFrame:
    """[*keys, hedged_margin_call_price] per group (the portfolio solver; null: covered at any price)."""
    return hedged_margin_call_prices(positions, shares, loan, margin_call_ltv, by=list(keys))


def expiry_values(legs: pl.DataFrame, prices: np.ndarray) -> np.ndarray:
    """Exact payoff of one template's legs at expiry for each GLD price (USD, shorts negative)."""
    strike = legs["strike"].to_numpy()[None, :]
    is_put = (legs["option_right"] == "P").to_numpy()[None, :]
    size = (legs["sign"].cast(pl.Float64) * legs["contracts"] * SHARES_PER_CONTRACT).to_numpy()[None, :]
    p = np.asarray(prices, dtype=np.float64)[:, None]
    intrinsic = np.where(is_put, np.maximum(strike - p, 0.0), np.maximum(p - strike, 0.0))
    return (intrinsic * size).sum(axis=1)
