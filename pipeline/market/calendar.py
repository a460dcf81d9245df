"""Trading calendars from a maintained library (pandas_market_calendars), never a holiday list.

NYSE sessions govern GLD and GVZ; the SIFMA US bond-market calendar governs T-bill quotes
(bond markets also close on Columbus and Veterans Day). pandas stays inside this module.

Market hours live here too, as pure functions of an instant: where `now` falls in the exchange's
day (`session_state`), which session's quotes the market shows (`quoted_session`), and whether
quotes taken at an instant are a session's closing quotes (`quotes_are_final`). Open and close
times, early closes included (13:00 New York on the day after Thanksgiving, on Christmas Eve),
come from the exchange calendar's schedule, never from a list of dates.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Literal

import pandas_market_calendars as mcal

EQUITY_CALENDAR = "NYSE"
BOND_CALENDAR = "SIFMAUS"

# Where an instant falls in the exchange's local day: before the open, during the session,
# after the close (the day's closing data is final), or on a day without a session.
SessionState = Literal["pre_open", "open", "closed_final", "no_session"]


@lru_cache(maxsize=8)
def _calendar(name: str) -> mcal.MarketCalendar:
    return mcal.get_calendar(name)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")


def exchange_time(now: datetime, calendar: str = EQUITY_CALENDAR) -> datetime:
    """`now` (a tz-aware instant) on the exchange's clock: New York time for NYSE and SIFMA."""
    _require_aware(now)
    return now.astimezone(_calendar(calendar).tz)


@lru_cache(maxsize=512)
def session_hours(day: date, calendar: str = EQUITY_CALENDAR) -> tuple[datetime, datetime] | None:
    """Open and close of `day`'s session as UTC instants (early closes as scheduled), or None
    when the exchange is closed that day."""
    schedule = _calendar(calendar).schedule(start_date=day.isoformat(), end_date=day.isoformat())
    if schedule.empty:
        return None
    row = schedule.iloc[0]
    return (row["market_open"].to_pydatetime().astimezone(timezone.utc),
            row["market_close"].to_pydatetime().astimezone(timezone.utc))


def session_close(day: date, calendar: str = EQUITY_CALENDAR) -> datetime | None:
    """When `day`'s session closes (UTC; 16:00 New York, or the early close), None without a session."""
    hours = session_hours(day, calendar)
    return hours[1] if hours else None


def session_state(now: datetime, calendar: str = EQUITY_CALENDAR) -> SessionState:
    """Where `now` falls in the exchange's local day (see SessionState)."""
    hours = session_hours(exchange_time(now, calendar).date(), calendar)
    if hours is None:
        return "no_session"
    opens, closes = hours
    if now < opens:
        return "pre_open"
    return "open" if now < closes else "closed_final"


def sessions(start: date, end: date, calendar: str = EQUITY_CALENDAR) -> list[date]:
    """Trading days from `start` to `end` inclusive."""
    if end < start:
        return []
    days = _calendar(calendar).valid_days(start.isoformat(), end.isoformat())
    return [day.date() for day in days]


def last_completed_session(now: datetime, calendar: str = EQUITY_CALENDAR) -> date:
    """The most recent session whose close is at or before `now` (a tz-aware instant): the last
    session whose data can be complete, e.g. Monday at 03:00 on a Tuesday or on Good Friday's eve."""
    _require_aware(now)
    schedule = _calendar(calendar).schedule(
        start_date=(now.date() - timedelta(days=14)).isoformat(),
        end_date=now.date().isoformat(),
    )
    closed = schedule[schedule["market_close"] <= now.astimezone(timezone.utc)]
    return closed.index[-1].date()


def quoted_session(now: datetime, calendar: str = EQUITY_CALENDAR) -> date:
    """The session whose quotes the market shows at `now`: the one in progress, else the last
    completed one (overnight, before the open, on weekends and holidays its closing quotes stand)."""
    if session_state(now, calendar) == "open":
        return exchange_time(now, calendar).date()
    return last_completed_session(now, calendar)


def quotes_are_final(day: date, taken_at: datetime, calendar: str = EQUITY_CALENDAR) -> bool:
    """Whether quotes taken at `taken_at` are `day`'s closing quotes: taken after its close and
    before the next session opens."""
    return session_state(taken_at, calendar) != "open" and quoted_session(taken_at, calendar) == day


def closure_name(day: date, calendar: str = EQUITY_CALENDAR) -> str | None:
    """Why the exchange has no session on `day` (the weekday for weekends, the holiday's name as
    the calendar gives it, or 'special closure'), or None when `day` is a session."""
    if session_hours(day, calendar) is not None:
        return None
    if day.weekday() >= 5:
        return day.strftime("%A")
    names = _calendar(calendar).regular_holidays.holidays(day, day, return_name=True)
    return str(names.iloc[0]) if len(names) else "special closure"


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
