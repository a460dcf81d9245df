"""Hedged margin-call price: the GLD close at which the hedged position breaches the margin call.

For each day with hedges held, solve for P

    shares * P + sum_i contracts_i * 100 * value_i(P) = loan / margin_call_ltv

where value_i(P) reprices hedge i at spot P with that day's surface (ATM vol, skew at strike/P,
rate, time to expiry; intrinsic on the expiry day). With long options, or short legs that cover no
more shares than the collateral and its long legs (collars, put spreads), the left side does not
decrease in P (each share's net delta stays >= 0) and the root is unique. Solved by bisection in log P, vectorised across all days at once (60 halvings of a
bracket [close/1000, 4 x max(close, unhedged call price)]: relative precision ~1e-15, far below a cent);
scipy is not a runtime dependency. A day whose hedges alone are worth the call amount at the
bottom of the bracket has no breach price (null).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import polars as pl

from pipeline.config import SHARES_PER_CONTRACT
from pipeline.portfolio.positions import kernel_price

BISECTION_STEPS: Final = 60
LOW_FRACTION: Final = 1e-3
HIGH_MULTIPLE: Final = 4.0


def hedge_values_at(positions: pl.DataFrame, spot: np.ndarray) -> np.ndarray:
    """Value (USD) of each position row if that day's close were `spot` (one spot per row)."""
    dte = positions["dte"].to_numpy()
    strike = positions["strike"].to_numpy()
    is_call = (positions["option_right"] == "call").to_numpy()
    intrinsic = np.where(is_call, np.maximum(spot - strike, 0.0), np.maximum(strike - spot, 0.0))
    per_share = intrinsic.copy()
    live = dte > 0
    if live.any():
        per_share[live] = kernel_price(is_call[live], spot[live], strike[live], positions["t_years"].to_numpy()[live],
                                       positions["rate"].to_numpy()[live], positions["atm_vol"].to_numpy()[live])
    return per_share * positions["contracts"].to_numpy() * SHARES_PER_CONTRACT


def hedged_margin_call_prices(positions: pl.DataFrame, shares: float, loan: float,
                              margin_call_ltv: float, by: str | Sequence[str] = "date") -> pl.DataFrame:
    """[*by, hedged_margin_call_price] for every group of `positions` rows (by default one per day).

    `positions` has the analytics.positions_daily columns the repricing needs (gld_close, dte,
    t_years, rate, atm_vol, strike, option_right, contracts; a negative `contracts` is a short
    leg). The strategy engine groups by template and scenario instead of by day; each group's
    bracket starts from its first row's gld_close.
    """
    keys = [by] if isinstance(by, str) else list(by)
    if positions.is_empty():
        return pl.DataFrame(schema={**{k: positions.schema[k] for k in keys}, "hedged_margin_call_price": pl.Float64})
    rows = positions.sort(keys, maintain_order=True)
    groups = rows.group_by(keys, maintain_order=True).agg(pl.col("gld_close").first()).with_row_index("_group")
    row_group = rows.join(groups.select(*keys, "_group"), on=keys, how="left", maintain_order="left")[
        "_group"].to_numpy()
    closes = groups["gld_close"].to_numpy()
    call_value = loan / margin_call_ltv

    def excess(price_per_group: np.ndarray) -> np.ndarray:
        hedge = np.zeros(groups.height)
        np.add.at(hedge, row_group, hedge_values_at(rows, price_per_group[row_group]))
        return shares * price_per_group + hedge - call_value

    low = np.log(closes * LOW_FRACTION)
    high = np.log(HIGH_MULTIPLE * np.maximum(closes, call_value / shares))
    covered = excess(np.exp(low)) >= 0.0
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (low + high)
        above = excess(np.exp(mid)) >= 0.0
        high = np.where(above, mid, high)
        low = np.where(above, low, mid)
    price = np.exp(0.5 * (low + high))
    return groups.select(*keys).with_columns(
        hedged_margin_call_price=pl.Series(np.where(covered, np.nan, price)).fill_nan(None))
