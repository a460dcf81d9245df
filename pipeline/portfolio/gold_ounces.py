"""Troy ounces of gold behind one GLD share on a given date.

GLD started on 2004-11-18 at 0.1000 oz per share. The trust sells gold to pay the sponsor fee,
which accrues daily at 0.40 %/yr of NAV (0.40 % total expense ratio since inception; the sole
recurring expense since 2015-07-17), so each calendar day one share loses 0.004/365 of its gold:

    ounces_per_share(d) = 0.1 * (1 - 0.004 / 365) ** (d - 2004-11-18).days

Check against the trust's 10-Q filings (ounces exchanged / shares in creation and redemption
baskets over a quarter; the published figure is a quarter average, so it must lie between the
formula's values at the quarter's first and last day):

    Q1 2019  created 2,173,423 oz / 23,000,000 sh = 0.094497   formula 0.094505 .. 0.094413
    Q1 2019  redeemed 2,258,261 oz / 23,900,000 sh = 0.094488  formula 0.094505 .. 0.094413
    Q2 2020  created 7,625,451.5 oz / 81,100,000 sh = 0.094025 formula 0.094034 .. 0.093941
    Q2 2020  redeemed 780,277.5 oz / 8,300,000 sh = 0.094009   formula 0.094034 .. 0.093941

All four lie inside the formula's range; the largest possible gap is the quarter's spread,
< 0.09 % (MAX_RELATIVE_ERROR). Source: SPDR Gold Trust 10-Q for the quarters ended 2019-03-31
(SEC accession 0001193125-19-139739) and 2020-06-30 (0001193125-20-213577), "Results of
Operations"; inception ratio and fee: the trust's prospectus and ssga.com fund page (0.40 %).
"""

from __future__ import annotations

from datetime import date
from typing import Final

import polars as pl

GLD_INCEPTION: Final = date(2004, 11, 18)
OUNCES_PER_SHARE_AT_INCEPTION: Final = 0.1
SPONSOR_FEE_PER_YEAR: Final = 0.004
MAX_RELATIVE_ERROR: Final = 0.0009
"""Largest gap between the formula and a published basket ratio (see the module docstring)."""


def gld_ounces_per_share(day: date) -> float:
    """Troy ounces of gold per GLD share on `day` (on or after GLD's inception)."""
    if day < GLD_INCEPTION:
        raise ValueError(f"GLD did not exist on {day.isoformat()}; it started on {GLD_INCEPTION.isoformat()}")
    days = (day - GLD_INCEPTION).days
    return OUNCES_PER_SHARE_AT_INCEPTION * (1.0 - SPONSOR_FEE_PER_YEAR / 365.0) ** days


def ounces_to_shares(ounces: float, day: date) -> float:
    """GLD shares holding `ounces` troy ounces of gold on `day`."""
    return ounces / gld_ounces_per_share(day)


def ounces_per_share_expr(day: pl.Expr) -> pl.Expr:
    """`gld_ounces_per_share` as a Polars expression over a Date column."""
    days = (day - pl.lit(GLD_INCEPTION)).dt.total_days()
    return OUNCES_PER_SHARE_AT_INCEPTION * (1.0 - SPONSOR_FEE_PER_YEAR / 365.0) ** days.cast(pl.Float64)
