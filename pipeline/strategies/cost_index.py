"""Protection cost index: what a 3-month 90 % put on GLD costs, every GLD day since 2004-11-18.

Per date of `analytics.synthetic_chain_daily` (`analytics.protection_cost_index`):

    premium             USD per share
    cost_pct_collateral = premium / spot                        (fraction of the collateral value)
    cost_annualised_pct = cost_pct_collateral * 365 / tenor_days

Synthetic (the default, every day): the grid row tenor_months = 3, moneyness = 0.90,
option_right = 'P'. premium = its model price, spot and strike as stored, expiry null,
source 'synthetic'. The grid prices 3 months as t = 0.25 y = 91.25 calendar days; tenor_days
stores the whole number TENOR_DAYS = 91 (the templates' 3 months), so the annualisation factor is
365 / 91 = 4.0110 (0.27 % above 1 / 0.25).

Snapshot (a real chain that day): `analytics.option_valuations` rows whose source is not 'model'
(model rows are generated, never market quotes) replace the synthetic row of their day:

    usable   = put, mid not null, bid > 0, not crossed, IV solved (iv_reason 0)
    eligible = usable and SNAPSHOT_TENOR_WINDOW[0] <= days_to_expiry <= SNAPSHOT_TENOR_WINDOW[1]
               and |strike / underlying_price - 0.90| <= STRIKE_WINDOW
    expiry   = the eligible expiry with days_to_expiry nearest TENOR_DAYS (tie: the earlier one)
    strike   = on that expiry, the eligible strike nearest 0.90 x underlying_price (tie: the lower)

premium = mid, spot = underlying_price, tenor_days = days_to_expiry, moneyness = strike /
underlying_price, source = 'snapshot:' + the row's source (e.g. 'snapshot:yfinance'). A snapshot
day without an eligible put keeps its synthetic row; a snapshot day with no synthetic row (not in
the synthetic table) is not indexed.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from pipeline.methodology import METHODOLOGY_VERSION
from pipeline.strategies.templates import THREE_MONTHS_DAYS

TENOR_MONTHS: Final = 3
TENOR_DAYS: Final = THREE_MONTHS_DAYS  # 91
MONEYNESS: Final = 0.90
SNAPSHOT_TENOR_WINDOW: Final = (60, 120)  # calendar days to expiry, inclusive
STRIKE_WINDOW: Final = 0.03  # largest |strike / underlying_price - MONEYNESS| used
DAYS_PER_YEAR: Final = 365.0
SYNTHETIC_SOURCE: Final = "synthetic"
SNAPSHOT_SOURCE_PREFIX: Final = "snapshot:"
MODEL_CHAIN_SOURCE: Final = "model"

PROTECTION_COST_SCHEMA: Final = pl.Schema({
    "date": pl.Date, "source": pl.String, "spot": pl.Float64, "strike": pl.Float64,
    "expiry": pl.Date, "tenor_days": pl.Int32, "moneyness": pl.Float64, "premium": pl.Float64,
    "cost_pct_collateral": pl.Float64, "cost_annualised_pct": pl.Float64,
    "methodology_version": pl.String,
})
"""`analytics.protection_cost_index` columns, in table order."""

QUOTE_SCHEMA: Final = pl.Schema(list(PROTECTION_COST_SCHEMA.items())[:8])
"""The put used per day (date .. premium), before the cost columns."""


def _synthetic_quotes(synthetic: pl.DataFrame) -> pl.DataFrame:
    """The synthetic 3-month 90 % put of every day, in QUOTE_SCHEMA."""
    return synthetic.filter(
        (pl.col("tenor_months") == TENOR_MONTHS) & (pl.col("moneyness") == MONEYNESS)
        & (pl.col("option_right") == "P")
    ).select(
        "date",
        source=pl.lit(SYNTHETIC_SOURCE),
        spot="spot",
        strike="strike",
        expiry=pl.lit(None, dtype=pl.Date),
        tenor_days=pl.lit(TENOR_DAYS),
        moneyness="moneyness",
        premium="price",
    ).cast(QUOTE_SCHEMA)


def _snapshot_quotes(valuations: pl.DataFrame) -> pl.DataFrame:
    """The listed put picked on each real-chain day that has an eligible one, in QUOTE_SCHEMA."""
    shortest, longest = SNAPSHOT_TENOR_WINDOW
    moneyness = pl.col("strike") / pl.col("underlying_price")
    eligible = valuations.filter(
        (pl.col("source") != MODEL_CHAIN_SOURCE) & (pl.col("option_right") == "P")
        & pl.col("mid").is_not_null() & (pl.col("bid") > 0) & ~pl.col("flag_crossed")
        & (pl.col("iv_reason") == 0) & (pl.col("underlying_price") > 0)
        & pl.col("days_to_expiry").is_between(shortest, longest)
        & ((moneyness - MONEYNESS).abs() <= STRIKE_WINDOW)
    )
    return (
        eligible.with_columns(
            tenor_gap=(pl.col("days_to_expiry") - TENOR_DAYS).abs(),
            strike_gap=(pl.col("strike") - MONEYNESS * pl.col("underlying_price")).abs(),
        )
        .sort("snapshot_date", "tenor_gap", "expiry", "strike_gap", "strike")
        .unique("snapshot_date", keep="first", maintain_order=True)
        .select(
            date="snapshot_date",
            source=pl.lit(SNAPSHOT_SOURCE_PREFIX) + pl.col("source"),
            spot="underlying_price",
            strike="strike",
            expiry="expiry",
            tenor_days="days_to_expiry",
            moneyness=moneyness,
            premium="mid",
        )
        .cast(QUOTE_SCHEMA)
    )


def protection_cost_index(synthetic: pl.DataFrame, valuations: pl.DataFrame) -> pl.DataFrame:
    """`analytics.protection_cost_index` rows: one per synthetic day, a real snapshot where there is one."""
    synthetic_quotes = _synthetic_quotes(synthetic)
    snapshot_quotes = _snapshot_quotes(valuations).join(synthetic_quotes.select("date"), on="date", how="semi")
    quotes = pl.concat([synthetic_quotes.join(snapshot_quotes, on="date", how="anti"), snapshot_quotes])
    return (
        quotes.with_columns(cost_pct_collateral=pl.col("premium") / pl.col("spot"))
        .with_columns(
            cost_annualised_pct=pl.col("cost_pct_collateral") * DAYS_PER_YEAR / pl.col("tenor_days"),
            methodology_version=pl.lit(METHODOLOGY_VERSION),
        )
        .cast(PROTECTION_COST_SCHEMA)
        .sort("date")
    )
