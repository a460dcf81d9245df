"""Synthetic GLD option history for backtests: model prices and Greeks on a fixed grid, every day.

For each GLD trading day d: spot = GLD close on d; ATM vol from `atm_vol_daily` (GVZ, carried
GVZ, or scaled 20-day realised vol before GVZ starts); rate = the last 3-month T-bill print on or
before d; vol per grid point from the skew model. Only rows dated <= d feed day d (as-of joins
backward), so no lookahead: changing any later input leaves day d unchanged
(tests/pricing/test_synthetic.py).

Prices and Greeks are American (`american_greeks`, the kernel called once on flat arrays: one
boundary solve per option with forward-mode tangents for vega, rho and theta), so a backtest's
deltas match the prices it trades at. Because a day depends only on its own inputs, a run with
`stored` rows reprices only days whose inputs (spot, ATM vol, rate, their sources) are new or changed.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipeline.pricing.api import GLD_EXPENSE_RATIO_Q, american_greeks
from pipeline.pricing.skew import atm_vol_daily, skew_vol

MONEYNESS_GRID = tuple(round(0.70 + 0.05 * i, 2) for i in range(9))  # 0.70 .. 1.10
TENOR_MONTHS = (1, 2, 3, 6, 12, 24)
RIGHTS = ("P", "C")


def daily_inputs(prices: pl.DataFrame, gvz: pl.DataFrame, rates: pl.DataFrame) -> pl.DataFrame:
    """Per GLD day: date, spot, atm_vol (+ source, age), rate (+ age), all as of that day."""
    atm = atm_vol_daily(gvz, prices).drop("hv20")
    gld = prices.filter(pl.col("symbol") == "GLD") if "symbol" in prices.columns else prices
    spot = gld.select(pl.col("date").cast(pl.Date), pl.col("close").cast(pl.Float64).alias("spot"))
    bills = (rates.select(pl.col("date").cast(pl.Date).alias("rate_date"),
                          pl.col("rate").cast(pl.Float64)).drop_nulls().sort("rate_date"))
    frame = (spot.join(atm, on="date", how="inner").sort("date")
             .join_asof(bills, left_on="date", right_on="rate_date", strategy="backward"))
    missing = frame.filter(pl.col("rate").is_null())
    if missing.height:
        raise ValueError(
            f"rates: no T-bill print on or before {missing['date'].min()} "
            f"(first rate date {bills['rate_date'].min()}); cannot price without a rate"
        )
    return frame.with_columns(
        rate_age_days=(pl.col("date") - pl.col("rate_date")).dt.total_days().cast(pl.Int32)
    ).drop("rate_date")


INPUT_COLUMNS = ["date", "spot", "atm_vol", "atm_vol_source", "atm_vol_age_days", "rate",
                 "rate_age_days"]


def price_grid(days: pl.DataFrame, q: float = GLD_EXPENSE_RATIO_Q) -> pl.DataFrame:
    """Price the fixed grid for every row of `days` (the `daily_inputs` layout)."""
    grid = pl.DataFrame(
        [(m, months, right) for months in TENOR_MONTHS for m in MONEYNESS_GRID for right in RIGHTS],
        schema={"moneyness": pl.Float64, "tenor_months": pl.Int8, "option_right": pl.Utf8},
        orient="row",
    )
    frame = days.join(grid, how="cross").with_columns(
        t_years=pl.col("tenor_months").cast(pl.Float64) / 12.0,
        strike=pl.col("spot") * pl.col("moneyness"),
        q=pl.lit(q, dtype=pl.Float64),
    )
    spot = frame["spot"].to_numpy()
    strike = frame["strike"].to_numpy()
    t = frame["t_years"].to_numpy()
    rate = frame["rate"].to_numpy()
    vol = skew_vol(frame["atm_vol"].to_numpy(), frame["moneyness"].to_numpy(), t)
    is_call = (frame["option_right"] == "C").to_numpy()
    greeks = american_greeks(is_call, spot, strike, t, rate, q, vol)
    return frame.with_columns(
        vol=pl.Series(vol),
        **{name: pl.Series(np.asarray(getattr(greeks, name), dtype=np.float64))
           for name in ("price", "delta", "gamma", "theta", "vega", "rho")},
    ).select(SYNTHETIC_COLUMNS)


def synthetic_chain(prices: pl.DataFrame, gvz: pl.DataFrame, rates: pl.DataFrame,
                    q: float = GLD_EXPENSE_RATIO_Q, stored: pl.DataFrame | None = None) -> pl.DataFrame:
    """The `analytics.synthetic_chain_daily` rows: every day x 9 moneyness x 6 tenors x 2 rights.

    `stored`: rows from an earlier run; days whose inputs are unchanged are taken from it instead
    of being repriced (same q assumed). Days no longer in the inputs are dropped.
    """
    days = daily_inputs(prices, gvz, rates)
    reuse = pl.DataFrame(schema={c: days.schema[c] for c in INPUT_COLUMNS})
    if stored is not None and stored.height:
        known = stored.select(INPUT_COLUMNS).unique("date").cast(days.select(INPUT_COLUMNS).schema)
        reuse = days.select(INPUT_COLUMNS).join(known, on=INPUT_COLUMNS, how="semi")
    fresh = price_grid(days.join(reuse.select("date"), on="date", how="anti"), q)
    parts = [fresh]
    if reuse.height:
        parts.append(stored.filter(pl.col("date").is_in(reuse["date"].implode()))
                     .select(SYNTHETIC_COLUMNS).cast(fresh.schema))
    return pl.concat(parts).sort("date", "tenor_months", "moneyness", "option_right")


SYNTHETIC_COLUMNS = [
    "date", "tenor_months", "moneyness", "option_right", "spot", "strike", "t_years", "rate",
    "rate_age_days", "q", "atm_vol", "atm_vol_source", "atm_vol_age_days", "vol", "price",
    "delta", "gamma", "theta", "vega", "rho",
]
