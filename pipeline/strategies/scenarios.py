"""Stress grid and payoff diagram of each template's hedge, from the legs bought on the day's chain.

Scenario grid (`analytics.strategy_scenarios`): spot shocks -50 % .. +20 % in 5-point steps x vol
shocks 0 / +10 / +20 vol points x horizons `now` (0 days), `30d` and `expiry` (the earliest leg's
days to expiry). hedge_value is a kernel re-price of every leg at the shocked spot and vol with its
remaining time (pipeline/strategies/valuation.py); a leg with no time left is worth its exact
intrinsic value, so at `expiry` the hedge value is the exact payoff, not an approximation.

    unhedged_ltv = loan / (shares x gld_price)
    hedged_ltv   = loan / (shares x gld_price + hedge_value)
    margin_call_hedged: the hedged margin-call price at that horizon and vol (same solver as today's)

Payoff (`analytics.strategy_payoff`): hedge value over GLD = PAYOFF_RATIOS x spot at `expiry` and
at `30d` (no vol shock), with hedge_pnl = hedge_value - cost_at_fill,
unhedged_equity = shares x gld_price - loan and hedged_equity = unhedged_equity + hedge_pnl.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from pipeline.config import Portfolio
from pipeline.strategies.valuation import DayMarket, hedge_values, margin_call_prices, scenario_positions

SPOT_SHOCKS: Final = tuple(round(-0.50 + 0.05 * i, 2) for i in range(15))  # -0.50 .. +0.20
VOL_SHOCKS: Final = (0.0, 0.10, 0.20)
THIRTY_DAYS: Final = 30
PAYOFF_RATIOS: Final = tuple(round(0.50 + 0.01 * i, 2) for i in range(81))  # 0.50 .. 1.30
SCENARIO_KEYS: Final = ["template_id", "horizon", "vol_shock", "spot_shock"]


def _horizons(legs: pl.DataFrame) -> pl.DataFrame:
    """Per template: now (0 days), 30d and expiry (its earliest leg's days to expiry)."""
    expiry = legs.group_by("template_id", maintain_order=True).agg(horizon_days=pl.col("dte").min())
    return pl.concat([
        expiry.select("template_id", horizon=pl.lit("now"), horizon_days=pl.lit(0, dtype=pl.Int32)),
        expiry.select("template_id", horizon=pl.lit("30d"), horizon_days=pl.lit(THIRTY_DAYS, dtype=pl.Int32)),
        expiry.select("template_id", horizon=pl.lit("expiry"), horizon_days=pl.col("horizon_days").cast(pl.Int32)),
    ])


def _shocked_positions(legs: pl.DataFrame, market: DayMarket, horizons: pl.DataFrame,
                       spot_shocks: tuple[float, ...], vol_shocks: tuple[float, ...]) -> pl.DataFrame:
    """The legs at every (horizon, vol shock, spot shock) of their own template."""
    shocks = pl.DataFrame({"vol_shock": list(vol_shocks)}).join(pl.DataFrame({"spot_shock": list(spot_shocks)}),
                                                                 how="cross")
    grid = horizons.join(shocks, how="cross")
    return scenario_positions(legs, market, grid.drop("template_id").unique()).join(
        grid, on=["template_id", "horizon", "horizon_days", "vol_shock", "spot_shock"], how="semi")


def strategy_scenarios(legs: pl.DataFrame, market: DayMarket, book: Portfolio) -> pl.DataFrame:
    """`analytics.strategy_scenarios` rows for every priced template."""
    shares, loan, mcl = book.share_count, book.loan.amount, book.loan.margin_call_ltv
    positions = _shocked_positions(legs, market, _horizons(legs), SPOT_SHOCKS, VOL_SHOCKS)
    values = hedge_values(positions, [*SCENARIO_KEYS, "horizon_days"])
    at_spot = positions.filter(pl.col("spot_shock") == 0.0).drop("gld_close").with_columns(
        gld_close=pl.lit(market.spot))
    calls = margin_call_prices(at_spot, ["template_id", "horizon", "vol_shock"], shares, loan, mcl)
    gld_price = market.spot * (1.0 + pl.col("spot_shock"))
    return values.join(calls, on=["template_id", "horizon", "vol_shock"], how="left").select(
        as_of=pl.lit(market.as_of), template_id="template_id", horizon="horizon",
        horizon_days=pl.col("horizon_days").cast(pl.Int32), spot_shock="spot_shock", vol_shock="vol_shock",
        gld_price=gld_price, hedge_value="hedge_value",
        unhedged_ltv=loan / (shares * gld_price),
        hedged_ltv=loan / (shares * gld_price + pl.col("hedge_value")),
        margin_call_unhedged=pl.lit(loan / (shares * mcl)),
        margin_call_hedged="hedged_margin_call_price",
    ).sort("template_id", "horizon", "vol_shock", "spot_shock")


def strategy_payoff(legs: pl.DataFrame, market: DayMarket, book: Portfolio,
                    cost_at_fill: pl.DataFrame) -> pl.DataFrame:
    """`analytics.strategy_payoff` rows: hedge value, P/L and equity over a GLD price grid.

    `cost_at_fill`: [template_id, cost_at_fill] of the comparison (what the hedge cost today).
    """
    shares, loan = book.share_count, book.loan.amount
    horizons = _horizons(legs).filter(pl.col("horizon") != "now")
    shocks = tuple(float(r) - 1.0 for r in np.asarray(PAYOFF_RATIOS))
    positions = _shocked_positions(legs, market, horizons, shocks, (0.0,))
    values = hedge_values(positions, ["template_id", "horizon", "spot_shock"])
    return values.join(cost_at_fill, on="template_id").select(
        as_of=pl.lit(market.as_of), template_id="template_id", horizon="horizon",
        price_ratio=(1.0 + pl.col("spot_shock")).round(2),
        gld_price=market.spot * (1.0 + pl.col("spot_shock")),
        hedge_value="hedge_value",
        hedge_pnl=pl.col("hedge_value") - pl.col("cost_at_fill"),
        unhedged_equity=shares * market.spot * (1.0 + pl.col("spot_shock")) - loan,
    ).with_columns(hedged_equity=pl.col("unhedged_equity") + pl.col("hedge_pnl")).sort(
        "template_id", "horizon", "price_ratio")
