"""Trading calendars from a maintained library (pandas_market_calendars), never a holiday list.

NYSE sessions govern GLD and GVZ; the SIFMA US bond-market calendar governs T-bill quotes
(bond markets also close on Columbus and Veterans Day). pandas stays inside this module.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

import pandas_market_calendars as mcal

EQUITY_CALENDAR = "NYSE"
BOND_CALENDAR = "SIFMAUS"


@lru_cache(maxsize=8)
def _calendar(name: str) -> mcal.MarketCalendar:
    return mcal.get_calendar(name)


def sessions(start: date, end: date, calendar: str = EQUITY_CALENDAR) -> list[date]:
    """Trading days from `start` to `end` inclusive."""
    if end < start:
        return []
    days = _calendar(calendar).valid_days(start.isoformat(), end.isoformat())
    return [day.date() for day in days]


def last_completed_session(now: datetime, calendar: str = EQUITY_CALENDAR) -> date:
    """The most recent session whose close is at or before `now` (a tz-aware instant)."""
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    schedule = _calendar(calendar).schedule(
        start_date=(now.date() - timedelta(days=14)).isoformat(),
        end_date=now.date().isoformat(),
    )
    closed = schedule[schedule["market_close"] <= now.astimezone(timezone.utc)]
    return closed.index[-1].date()


def missing_sessions(present: list[date], calendar: str = EQUITY_CALENDAR) -> list[date]:
    """Sessions between the first and last present date that have no row."""
    if not present:
        return []
    have = set(present)
    return [day for day in sessions(min(have), max(have), calendar) if day not in have]


def non_session_dates(present: list[date], calendar: str = EQUITY_CALENDAR) -> list[date]:
    """Present dates on which the exchange was closed (kept, but worth flagging)."""
    if not present:
        return []
    open_days = set(sessions(min(present), max(present), calendar))
    return sorted(day for day in set(present) if day not in open_days)
