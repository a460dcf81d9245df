"""GLD's option listing pattern: which expiries and strikes a chain on a given day has.

Expiries (docs/chain_model.md, "Listing pattern"), all counted from the snapshot day `as_of`:
- weekly:    every Friday up to WEEKLY_HORIZON_DAYS (~2 months) ahead;
- monthly:   the third Friday of every month up to MONTHLY_HORIZON_DAYS (~3 months) ahead;
- quarterly: third Fridays of Mar/Jun/Sep/Dec up to QUARTERLY_HORIZON_DAYS (1 year) ahead;
- leaps:     third Fridays of January up to LEAPS_HORIZON_DAYS (~2.5 years) ahead (beyond the
             monthly window; a January inside it is a monthly).
A Friday that is not an NYSE session (Good Friday, Juneteenth or Independence Day on a Friday, ...)
moves to the previous session, usually the Thursday. Only expiries strictly after `as_of` are listed
(a same-day expiry has no time value left at the close). Where rules overlap, the standard-cycle
name wins (monthly > quarterly > leaps > weekly).

Strikes: $1 apart near the money (within FINE_BAND of spot, for expiries up to FINE_MAX_DAYS),
$5 apart out to the tenor-dependent range; below $50 the steps are $0.50/$1.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl

from pipeline.market import calendar

WEEKLY_HORIZON_DAYS = 63
MONTHLY_HORIZON_DAYS = 92
QUARTERLY_HORIZON_DAYS = 366
LEAPS_HORIZON_DAYS = 915  # January LEAPS out to ~2.5 years
QUARTER_MONTHS = (3, 6, 9, 12)

FINE_BAND = 0.10        # $1 strikes within +-10 % of spot ...
FINE_MAX_DAYS = 92      # ... for expiries up to ~3 months
RANGE_SD_DOWN = 4.0     # strikes from spot*exp(-4 sd) ...
RANGE_SD_UP = 3.0       # ... to spot*exp(+3 sd), sd = atm_vol * sqrt(max(t, 30 days))
RANGE_MIN, RANGE_MAX = 0.50, 1.60  # and never beyond 50 % .. 160 % of spot

EXPIRY_TYPE_PRIORITY = ("monthly", "quarterly", "leaps", "weekly")


def third_friday(year: int, month: int) -> date:
    """The third Friday of a month (the standard monthly expiry, before holiday adjustment)."""
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def _to_session(days: list[date]) -> dict[date, date]:
    """Nominal Friday -> the NYSE session it trades on (the previous session if closed)."""
    if not days:
        return {}
    open_days = calendar.sessions(min(days) - timedelta(days=10), max(days))
    adjusted = {}
    for day in days:
        candidates = [s for s in open_days if s <= day]
        adjusted[day] = candidates[-1]
    return adjusted


def gld_expiries(as_of: date) -> pl.DataFrame:
    """The expiries listed on `as_of`: expiry (NYSE session), expiry_type, nominal (the Friday).

    Good Friday 2026-04-03 moves that weekly to Thursday; Juneteenth (Friday 2026-06-19) moves
    the June monthly to Thursday 2026-06-18:

    >>> frame = gld_expiries(date(2026, 3, 27))
    >>> frame["expiry"].dt.strftime("%Y-%m-%d").to_list()[0]
    '2026-04-02'
    >>> frame.filter(pl.col("expiry_type") != "weekly")["expiry"].dt.strftime("%Y-%m-%d").to_list()[:3]
    ['2026-04-17', '2026-05-15', '2026-06-18']
    """
    nominal: dict[date, str] = {}

    def add(day: date, kind: str) -> None:
        current = nominal.get(day)
        if current is None or EXPIRY_TYPE_PRIORITY.index(kind) < EXPIRY_TYPE_PRIORITY.index(current):
            nominal[day] = kind

    friday = as_of + timedelta(days=(4 - as_of.weekday()) % 7)
    while (friday - as_of).days <= WEEKLY_HORIZON_DAYS:
        add(friday, "weekly")
        friday += timedelta(days=7)
    year, month = as_of.year, as_of.month
    while True:
        day = third_friday(year, month)
        ahead = (day - as_of).days
        if ahead > LEAPS_HORIZON_DAYS:
            break
        if ahead <= MONTHLY_HORIZON_DAYS:
            add(day, "monthly")
        elif ahead <= QUARTERLY_HORIZON_DAYS and month in QUARTER_MONTHS:
            add(day, "quarterly")
        elif month == 1:
            add(day, "leaps")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    sessions = _to_session(sorted(nominal))
    rows = [(sessions[day], kind, day) for day, kind in sorted(nominal.items())
            if sessions[day] > as_of]
    return pl.DataFrame(rows, schema={"expiry": pl.Date, "expiry_type": pl.Utf8, "nominal": pl.Date},
                        orient="row")


def strike_steps(spot: float) -> tuple[float, float]:
    """(fine, coarse) strike spacing for an underlying at `spot`."""
    return (0.5, 1.0) if spot < 50 else (1.0, 5.0)


def gld_strikes(spot: float, t: float, atm_vol: float) -> np.ndarray:
    """Listed strikes for one expiry `t` years out, around `spot` (ascending, unique).

    30-day floor: sd = 0.2*sqrt(30/365) = 0.05734; range 400*exp(-0.2293) = 318.0 .. 400*exp(0.1720)
    = 475.1 in $5 steps (32), plus $1 steps from 360 to 440 (81, 17 shared): 96 strikes.

    >>> strikes = gld_strikes(400.0, 20 / 365, 0.2)
    >>> strikes[:3].tolist(), float(strikes[-1]), int((strikes == 361.0).sum()), len(strikes)
    ([320.0, 325.0, 330.0], 475.0, 1, 96)
    """
    if not (spot > 0 and math.isfinite(spot)):
        raise ValueError(f"spot must be a positive number, got {spot!r}")
    if not (atm_vol > 0 and math.isfinite(atm_vol)):
        raise ValueError(f"atm_vol must be a positive number, got {atm_vol!r}")
    fine, coarse = strike_steps(spot)
    sd = atm_vol * math.sqrt(max(t, 30 / 365))
    low = spot * max(RANGE_MIN, math.exp(-RANGE_SD_DOWN * sd))
    high = spot * min(RANGE_MAX, math.exp(RANGE_SD_UP * sd))
    strikes = np.arange(math.ceil(low / coarse) * coarse, high + 1e-9, coarse)
    if t * 365 <= FINE_MAX_DAYS:
        band = np.arange(math.ceil(spot * (1 - FINE_BAND) / fine) * fine,
                         spot * (1 + FINE_BAND) + 1e-9, fine)
        strikes = np.union1d(strikes, band)
    return np.round(strikes, 2)
