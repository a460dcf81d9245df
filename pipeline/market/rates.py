"""Treasury-bill quote conventions.

FRED's DTB3 and Yahoo's ^IRX quote the 3-month bill on a bank-discount basis in percent:
price = 1 - d * days / 360. Option pricing needs a continuously compounded rate on an
Actual/365 year, the rate r for which exp(-r * days / 365) equals that same price:

    r = -ln(1 - d * days / 360) * 365 / days,   with days = 91 (a 13-week bill).

Example: d = 5.00% -> price 0.987361 -> r = 5.1018%.
"""

from __future__ import annotations

import polars as pl

TBILL_DAYS = 91
TBILL_TENOR = "3m"


def discount_to_continuous(discount_pct: pl.Expr, days: int = TBILL_DAYS) -> pl.Expr:
    """Polars expression turning a bank-discount quote in percent into a continuous rate."""
    price = 1.0 - discount_pct / 100.0 * days / 360.0
    return -price.log() * 365.0 / days


def tbill_rates(bills: pl.DataFrame, quote_column: str) -> pl.DataFrame:
    """Bill quotes (date + a discount-basis column in percent) in the `raw.rates_daily` layout,
    without provenance: the continuous rate beside the quote it came from."""
    return bills.select(
        "date",
        tenor=pl.lit(TBILL_TENOR),
        rate=discount_to_continuous(pl.col(quote_column)),
        quoted_discount_pct=pl.col(quote_column),
    )
