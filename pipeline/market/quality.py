"""Data-quality rules for the raw market tables, as pure functions over frames.

The Dagster asset checks call these; keeping the rules here lets them run (and be tested)
without Dagster. Each returns a `QualityResult` whose metadata says what was found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from pipeline.market import calendar

# Longest run of missing sessions each source may have. NYSE-traded series must be complete;
# FRED's T-bill series skips national days of mourning and storm closures (2012-10-30,
# 2018-12-05) that the SIFMA calendar does not mark, one session at a time.
MAX_MISSING_RUN = {"prices": 0, "gvz": 0, "rates": 1}
# Rates are checked only where the product uses them: from GLD's first session on.
RATES_CHECKED_SINCE = date(2004, 11, 18)
RATE_BOUNDS = (-0.01, 0.25)
CALENDAR_OF = {"prices": calendar.EQUITY_CALENDAR, "gvz": calendar.EQUITY_CALENDAR,
               "rates": calendar.BOND_CALENDAR}


@dataclass(frozen=True)
class QualityResult:
    passed: bool
    description: str
    metadata: dict[str, object] = field(default_factory=dict)


def non_empty(frame: pl.DataFrame, table: str) -> QualityResult:
    """The table holds at least one row."""
    return QualityResult(frame.height > 0, f"{table} has {frame.height} rows", {"rows": frame.height})


def _implausible(source: str) -> tuple[pl.Expr, str]:
    """A filter selecting impossible rows for `source`, and what it means in words."""
    if source == "prices":
        columns = ["open", "high", "low", "close"]
        bad = pl.any_horizontal(pl.col(c).is_null() | ~pl.col(c).is_finite() | (pl.col(c) <= 0)
                                for c in columns)
        return bad | (pl.col("low") > pl.col("high")), "a missing or non-positive price, or low > high"
    if source == "gvz":
        return pl.col("close").is_null() | ~pl.col("close").is_finite() | (pl.col("close") <= 0), \
            "a missing or non-positive close"
    # Rates may be zero or slightly negative (FRED printed -0.05% in 2015 and 2020).
    low, high = RATE_BOUNDS
    return pl.col("rate").is_null() | ~pl.col("rate").is_between(low, high), \
        f"a rate outside [{low:.0%}, {high:.0%}]"


def plausible_values(frame: pl.DataFrame, source: str, table: str) -> QualityResult:
    """No impossible values: prices and GVZ strictly positive, rates within RATE_BOUNDS."""
    condition, meaning = _implausible(source)
    bad = frame.filter(condition)
    sample = [str(d) for d in bad["date"].head(10).to_list()]
    return QualityResult(
        bad.is_empty(),
        f"{table}: {bad.height} rows with {meaning}",
        {"bad_rows": bad.height, "first_bad_dates": sample},
    )


def _runs(days: list[date], all_sessions: list[date]) -> list[tuple[date, date, int]]:
    """Group missing sessions into consecutive runs: (first, last, length)."""
    position = {day: i for i, day in enumerate(all_sessions)}
    runs: list[tuple[date, date, int]] = []
    for day in days:
        if runs and position[day] == position[runs[-1][1]] + 1:
            first, _, length = runs[-1]
            runs[-1] = (first, day, length + 1)
        else:
            runs.append((day, day, 1))
    return runs


def no_calendar_gaps(dates: list[date], source: str, since: date | None = None) -> QualityResult:
    """No run of missing sessions longer than the source's calendar allows (MAX_MISSING_RUN)."""
    cal = CALENDAR_OF[source]
    present = sorted(d for d in dates if since is None or d >= since)
    missing = calendar.missing_sessions(present, cal)
    runs = _runs(missing, calendar.sessions(present[0], present[-1], cal)) if missing else []
    too_long = [r for r in runs if r[2] > MAX_MISSING_RUN[source]]
    extra = calendar.non_session_dates(present, cal)
    return QualityResult(
        not too_long,
        f"{source}: {len(missing)} missing {cal} sessions in {len(runs)} runs; "
        f"{len(too_long)} runs longer than {MAX_MISSING_RUN[source]} allowed",
        {
            "calendar": cal,
            "missing_sessions": len(missing),
            "runs_too_long": [f"{a}..{b} ({n})" for a, b, n in too_long[:10]],
            "rows_on_closed_days": [str(d) for d in extra[:10]],
        },
    )


def freshness(last_date: date, now: datetime, status: str, source: str) -> QualityResult:
    """Last stored date vs the last completed session of the source's calendar.

    Session-aware: before the open, overnight, on weekends and holidays the last completed session
    is an earlier day (early closes count at their early time), so no new row is due and nothing
    is stale. Embedded-data runs pass (the embedded snapshot is as fresh as it can be); live runs
    fail when behind the last completed session.
    """
    cal = CALENDAR_OF[source]
    expected = calendar.last_completed_session(now, cal)
    state = calendar.session_state(now, cal)
    behind = len(calendar.sessions(last_date, expected, cal)) - 1 if last_date < expected else 0
    metadata = {"last_date": str(last_date), "last_completed_session": str(expected),
                "sessions_behind": behind, "status": status, "session_state": state}
    if status == "embedded":
        return QualityResult(True, f"{source}: embedded data through {last_date} "
                                   f"({behind} sessions before {expected}); live mode is off", metadata)
    return QualityResult(behind == 0, f"{source}: last row {last_date}, {behind} sessions behind "
                                      f"the last completed session {expected} (status {status}; "
                                      f"{cal} {state} now)", metadata)
