"""Is protection cheap or rich today, and how much of the equity would a bad day take?

Protection signal (`analytics.protection_signal`), every day where atm_iv_30d and hv20 are both
set (not null, not NaN) and hv20 > 0:

    nvrp   = atm_iv_30d / hv20 - 1          (normalised volatility risk premium, fraction)
    signal = DISCOUNT  when nvrp < signal_discount_below   (implied below realised: puts cheap)
             RICH      when nvrp > signal_rich_above       (puts expensive)
             FAIR      otherwise (a value exactly at a threshold is FAIR)

Tail risk (`analytics.tail_risk_daily`), every `analytics.ltv_daily` day: the collateral plus
held hedges under every spot shock s (fraction of the close) x vol shock v (vol as a decimal,
0.10 = +10 vol points; v = 0 always included), by a delta-gamma-vega expansion:

    dS     = s * gld_close                                        USD per share
    pnl    = delta * dS + 0.5 * gamma * dS^2 + vega * (v * 100)   USD
             (delta in share equivalents, gamma per 1 USD move, vega in USD per vol point)
    equity = collateral_value + hedge_value - loan                USD
    worst  = the scenario with the lowest pnl; ties go to the first in (spot shock, vol shock)
             order as configured (duplicate shocks count once)
    tail_risk_pct = max(-worst_pnl, 0) / equity; when equity <= 0 the loan is already under water:
                    tail_risk_pct = 1.0 (the whole, already lost, equity) and status Extreme
    status = Safe when tail_risk_pct < tail_loaded_above, Extreme when > tail_extreme_above,
             else Loaded

Thresholds and shocks come from `StrategySettings` (portfolio.toml `[strategy]`).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from pipeline.config import StrategySettings
from pipeline.methodology import METHODOLOGY_VERSION

VOL_POINTS_PER_UNIT: Final = 100.0  # a vol shock of 0.10 is 10 vol points
EQUITY_GONE_TAIL_RISK: Final = 1.0  # tail_risk_pct stored when equity <= 0

PROTECTION_SIGNAL_SCHEMA: Final = pl.Schema({
    "date": pl.Date, "iv_source": pl.String, "atm_iv_30d": pl.Float64, "hv20": pl.Float64,
    "nvrp": pl.Float64, "signal": pl.String, "discount_below": pl.Float64, "rich_above": pl.Float64,
    "methodology_version": pl.String,
})
"""`analytics.protection_signal` columns, in table order."""

TAIL_RISK_SCHEMA: Final = pl.Schema({
    "date": pl.Date, "gld_close": pl.Float64, "equity": pl.Float64, "worst_spot_shock": pl.Float64,
    "worst_vol_shock": pl.Float64, "worst_pnl": pl.Float64, "tail_risk_pct": pl.Float64,
    "status": pl.String, "scenarios": pl.Int32, "methodology_version": pl.String,
})
"""`analytics.tail_risk_daily` columns, in table order."""


def protection_signal(surface: pl.DataFrame, settings: StrategySettings) -> pl.DataFrame:
    """`analytics.protection_signal` rows from `analytics.vol_surface_daily`, oldest first."""
    nvrp = pl.col("atm_iv_30d") / pl.col("hv20") - 1.0
    return (
        surface.filter(pl.col("atm_iv_30d").is_finite() & pl.col("hv20").is_finite()
                       & (pl.col("hv20") > 0))
        .select(
            "date", "iv_source", "atm_iv_30d", "hv20",
            nvrp=nvrp,
            signal=pl.when(nvrp < settings.signal_discount_below).then(pl.lit("DISCOUNT"))
            .when(nvrp > settings.signal_rich_above).then(pl.lit("RICH"))
            .otherwise(pl.lit("FAIR")),
            discount_below=pl.lit(settings.signal_discount_below),
            rich_above=pl.lit(settings.signal_rich_above),
            methodology_version=pl.lit(METHODOLOGY_VERSION),
        )
        .cast(PROTECTION_SIGNAL_SCHEMA)
        .sort("date")
    )


def stress_scenarios(settings: StrategySettings) -> tuple[np.ndarray, np.ndarray]:
    """(spot_shock, vol_shock) per scenario, spot-shock major: the order ties are broken in."""
    spot_shocks = np.array(list(dict.fromkeys(settings.tail_spot_shocks)), dtype=np.float64)
    vol_shocks = np.array(list(dict.fromkeys([0.0, *settings.tail_vol_shocks])), dtype=np.float64)
    return np.repeat(spot_shocks, vol_shocks.size), np.tile(vol_shocks, spot_shocks.size)


def tail_risk_daily(ltv: pl.DataFrame, settings: StrategySettings) -> pl.DataFrame:
    """`analytics.tail_risk_daily` rows from `analytics.ltv_daily`: the worst stress per day."""
    days = ltv.sort("date")
    spot_shock, vol_shock = stress_scenarios(settings)
    column = {name: days[name].to_numpy()[:, None]
              for name in ("gld_close", "portfolio_delta", "portfolio_gamma", "portfolio_vega")}
    move = spot_shock * column["gld_close"]  # (days, scenarios)
    pnl = (column["portfolio_delta"] * move + 0.5 * column["portfolio_gamma"] * move**2
           + column["portfolio_vega"] * vol_shock * VOL_POINTS_PER_UNIT)
    worst = pnl.argmin(axis=1)  # first minimum: the tie rule
    equity = pl.col("collateral_value") + pl.col("hedge_value") - pl.col("loan")
    tail_risk = pl.when(pl.col("equity") > 0).then(
        pl.max_horizontal(-pl.col("worst_pnl"), pl.lit(0.0)) / pl.col("equity")
    ).otherwise(pl.lit(EQUITY_GONE_TAIL_RISK))
    return (
        days.select(
            "date", "gld_close",
            equity=equity,
            worst_spot_shock=pl.Series(spot_shock[worst], dtype=pl.Float64),
            worst_vol_shock=pl.Series(vol_shock[worst], dtype=pl.Float64),
            worst_pnl=pl.Series(np.take_along_axis(pnl, worst[:, None], axis=1)[:, 0], dtype=pl.Float64),
        )
        .with_columns(tail_risk_pct=tail_risk)
        .with_columns(
            status=pl.when(pl.col("equity") <= 0).then(pl.lit("Extreme"))
            .when(pl.col("tail_risk_pct") < settings.tail_loaded_above).then(pl.lit("Safe"))
            .when(pl.col("tail_risk_pct") > settings.tail_extreme_above).then(pl.lit("Extreme"))
            .otherwise(pl.lit("Loaded")),
            scenarios=pl.lit(spot_shock.size),
            methodology_version=pl.lit(METHODOLOGY_VERSION),
        )
        .select(TAIL_RISK_SCHEMA.names())
        .cast(TAIL_RISK_SCHEMA)
    )
