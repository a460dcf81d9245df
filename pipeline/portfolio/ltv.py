"""Daily loan-to-value of the configured portfolio.

    collateral_value  = shares * close
    ltv               = loan / collateral_value
    margin_call_price = loan / (shares * margin_call_ltv)     (the close at which ltv = margin_call_ltv)
    distance_to_margin_call = 1 - margin_call_price / close   (fraction gold can fall before the call)
"""

from __future__ import annotations

import polars as pl

from pipeline.config import Portfolio


class NoPricesError(ValueError):
    """No closes exist on or after the portfolio's start date."""


def ltv_daily(prices: pl.DataFrame, portfolio: Portfolio) -> pl.DataFrame:
    """One row per trading day since `portfolio.start_date`, in the `analytics.ltv_daily` layout.

    `prices` is `raw.prices_daily` (any symbols); the collateral symbol's closes are used.
    """
    symbol = portfolio.collateral.symbol
    closes = prices.filter(
        (pl.col("symbol") == symbol) & (pl.col("date") >= portfolio.start_date)
    ).sort("date")
    if closes.is_empty():
        raise NoPricesError(
            f"start_date={portfolio.start_date}: no {symbol} closes on or after it "
            f"(stored {symbol} history: {prices.filter(pl.col('symbol') == symbol)['date'].min()} .. "
            f"{prices.filter(pl.col('symbol') == symbol)['date'].max()})"
        )
    shares = portfolio.collateral.share_count
    loan = portfolio.loan.amount
    call_ltv = portfolio.loan.margin_call_ltv
    margin_call_price = loan / (shares * call_ltv)
    return closes.select(
        "date",
        gld_close=pl.col("close"),
        shares=pl.lit(shares, dtype=pl.Float64),
        collateral_value=pl.col("close") * shares,
        loan=pl.lit(loan, dtype=pl.Float64),
        ltv=loan / (pl.col("close") * shares),
        margin_call_ltv=pl.lit(call_ltv, dtype=pl.Float64),
        margin_call_price=pl.lit(margin_call_price, dtype=pl.Float64),
        distance_to_margin_call=1.0 - margin_call_price / pl.col("close"),
    )
