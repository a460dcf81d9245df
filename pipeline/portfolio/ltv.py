"""Daily loan-to-value of the configured portfolio, unhedged and with the held hedges.

    collateral_value  = shares * close
    ltv               = loan / collateral_value
    margin_call_price = loan / (shares * margin_call_ltv)     (the close at which ltv = margin_call_ltv)
    liquidation_price = loan / (shares * liquidation_ltv)
    distance_to_margin_call = 1 - margin_call_price / close   (fraction gold can fall before the call)
    cure_amount       = max(loan - target_ltv * collateral_value, 0)
        cash paid down against the loan so that LTV falls back to target_ltv (0 when already there)
    recommended_collateral_value  = loan / target_ltv         (collateral that puts LTV at target)
    recommended_collateral_shares = recommended_collateral_value / close
    hedged_ltv        = loan / (collateral_value + hedge_value)
    hedged_margin_call_price: the close P at which loan / (shares*P + hedge_value(P)) = margin_call_ltv,
        hedges repriced at P with that day's surface (pipeline/portfolio/hedged.py); without hedges
        it equals margin_call_price; null when the hedges alone cover the call at any price.
"""

from __future__ import annotations

import polars as pl

from pipeline.config import Portfolio
from pipeline.portfolio.gold_ounces import ounces_per_share_expr

NO_HEDGES = "none"

HEDGE_DAILY_SCHEMA = pl.Schema(
    {
        "date": pl.Date,
        "hedge_value": pl.Float64,
        "hedge_mark_source": pl.String,
        "hedge_delta": pl.Float64,
        "hedge_gamma": pl.Float64,
        "hedge_theta": pl.Float64,
        "hedge_vega": pl.Float64,
        "hedged_margin_call_price": pl.Float64,
    }
)
"""Per-day hedge totals that `ltv_daily` joins in (pipeline/portfolio/positions.py + hedged.py)."""


class NoPricesError(ValueError):
    """No closes exist on or after the portfolio's start date."""


def collateral_closes(prices: pl.DataFrame, portfolio: Portfolio) -> pl.DataFrame:
    """The collateral symbol's [date, close] from the start date on, oldest first; raises if none."""
    symbol = portfolio.collateral.symbol
    history = prices.filter(pl.col("symbol") == symbol)
    closes = history.filter(pl.col("date") >= portfolio.start_date).sort("date").select("date", "close")
    if closes.is_empty():
        raise NoPricesError(
            f"start_date={portfolio.start_date}: no {symbol} closes on or after it "
            f"(stored {symbol} history: {history['date'].min()} .. {history['date'].max()})"
        )
    return closes


def ltv_daily(prices: pl.DataFrame, portfolio: Portfolio, hedges: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per trading day since `portfolio.start_date`, in the `analytics.ltv_daily` layout.

    `prices` is `raw.prices_daily` (any symbols); `hedges` has HEDGE_DAILY_SCHEMA rows for the
    days a hedge was held (days missing from it count as unhedged).
    """
    closes = collateral_closes(prices, portfolio)
    shares = portfolio.share_count
    loan = portfolio.loan
    ounces = (
        pl.lit(shares) * ounces_per_share_expr(pl.col("date"))
        if portfolio.collateral.symbol == "GLD" else pl.lit(None, dtype=pl.Float64)
    )
    margin_call_price = loan.amount / (shares * loan.margin_call_ltv)
    hedge_frame = pl.DataFrame(schema=HEDGE_DAILY_SCHEMA) if hedges is None else hedges.select(
        [pl.col(name).cast(dtype) for name, dtype in HEDGE_DAILY_SCHEMA.items()]
    )
    collateral_value = pl.col("close") * shares
    hedge_value = pl.col("hedge_value").fill_null(0.0)
    return (
        closes.join(hedge_frame, on="date", how="left")
        .select(
            "date",
            gld_close=pl.col("close"),
            shares=pl.lit(shares, dtype=pl.Float64),
            gold_ounces=ounces,
            collateral_value=collateral_value,
            loan=pl.lit(loan.amount, dtype=pl.Float64),
            ltv=loan.amount / collateral_value,
            margin_call_ltv=pl.lit(loan.margin_call_ltv, dtype=pl.Float64),
            margin_call_price=pl.lit(margin_call_price, dtype=pl.Float64),
            distance_to_margin_call=1.0 - margin_call_price / pl.col("close"),
            liquidation_ltv=pl.lit(loan.liquidation_ltv, dtype=pl.Float64),
            liquidation_price=pl.lit(loan.amount / (shares * loan.liquidation_ltv), dtype=pl.Float64),
            target_ltv=pl.lit(loan.target_ltv, dtype=pl.Float64),
            cure_amount=pl.max_horizontal(loan.amount - loan.target_ltv * collateral_value, pl.lit(0.0)),
            recommended_collateral_value=pl.lit(loan.amount / loan.target_ltv, dtype=pl.Float64),
            recommended_collateral_shares=loan.amount / loan.target_ltv / pl.col("close"),
            hedge_value=hedge_value,
            hedge_mark_source=pl.col("hedge_mark_source").fill_null(NO_HEDGES),
            hedged_ltv=loan.amount / (collateral_value + hedge_value),
            hedged_margin_call_price=pl.when(pl.col("hedge_value").is_null())
            .then(pl.lit(margin_call_price))
            .otherwise(pl.col("hedged_margin_call_price")),
            portfolio_delta=shares + pl.col("hedge_delta").fill_null(0.0),
            portfolio_gamma=pl.col("hedge_gamma").fill_null(0.0),
            portfolio_theta=pl.col("hedge_theta").fill_null(0.0),
            portfolio_vega=pl.col("hedge_vega").fill_null(0.0),
        )
        .sort("date")
    )
