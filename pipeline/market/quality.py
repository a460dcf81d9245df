"""Data-quality rules for the raw market tables, as pure functions over frames.

The Dagster asset checks call these; keeping the rules here lets them run (and be tested)
without Dagster. Each returns a `QualityResult` whose metadata says what was found.
"""

from __future__ import annotations

from collections import Counter
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
# A close-to-close move beyond this factor in one session is a split, a unit change or a bad
# print, not gold: GLD's largest moves 2004-2026 are x0.897 (2026-01-30) and x1.113 (2008-09-17);
# a 2:1 split is x0.5, a 3:2 one x0.667.
MAX_ONE_DAY_FACTOR = 1.3
PRICE_COLUMNS = ("open", "high", "low", "close")
# Columns that identify one row of each source: a second row with the same key is a duplicate.
ROW_KEY = {"prices": ("symbol", "date"), "gvz": ("date",), "rates": ("date", "tenor")}
SHOWN_DEFECTS = 10  # defects spelled out in a check's description (all are counted)
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


def _defects(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """One row per problem found: date, what (in words, with the values). Order-independent:
    rows are compared in date order whatever order they came in."""
    found: list[pl.DataFrame] = []

    def add(condition: pl.Expr, what: pl.Expr, rows: pl.DataFrame = frame) -> None:
        hits = rows.filter(condition.fill_null(False))
        if hits.height:
            found.append(hits.select(pl.col("date"), what.alias("what")))

    def value(column: str) -> pl.Expr:
        return pl.col(column).cast(pl.Utf8).fill_null("null")

    if source == "prices":
        for column in PRICE_COLUMNS:
            add(pl.col(column).is_null() | ~pl.col(column).is_finite(),
                pl.format("missing or non-finite {} ({})", pl.lit(column), value(column)))
            add(pl.col(column) <= 0, pl.format("non-positive {} ({})", pl.lit(column), value(column)))
        add(pl.col("low") > pl.col("high"), pl.format("low {} > high {}", value("low"), value("high")))
        closes = (frame.filter(pl.col("close").is_finite() & (pl.col("close") > 0) & pl.col("date").is_not_null())
                  .sort("symbol", "date", "close").unique(["symbol", "date"], keep="first", maintain_order=True)
                  .with_columns(before=pl.col("close").shift(1).over("symbol"),
                                before_date=pl.col("date").shift(1).over("symbol"))
                  .with_columns(factor=pl.col("close") / pl.col("before")))
        add(pl.col("before").is_not_null() & ((pl.col("factor") >= MAX_ONE_DAY_FACTOR)
                                              | (pl.col("factor") <= 1 / MAX_ONE_DAY_FACTOR)),
            pl.format("one-day jump x{} in close ({} on {} -> {}): a split or a bad print",
                      pl.col("factor").round(3), value("before"), pl.col("before_date").cast(pl.Utf8),
                      value("close")), closes)
    elif source == "gvz":
        add(pl.col("close").is_null() | ~pl.col("close").is_finite(),
            pl.format("missing or non-finite close ({})", value("close")))
        add(pl.col("close") <= 0, pl.format("non-positive close ({})", value("close")))
    else:  # rates may be zero or slightly negative (FRED printed -0.05% in 2015 and 2020)
        low, high = RATE_BOUNDS
        add(pl.col("rate").is_null() | ~pl.col("rate").is_between(low, high),
            pl.format("rate {} outside [{}, {}]", value("rate"), pl.lit(f"{low:.0%}"), pl.lit(f"{high:.0%}")))
    key = [column for column in ROW_KEY[source] if column in frame.columns]
    add(pl.len().over(key) > 1, pl.format("duplicated day ({} rows for {})", pl.len().over(key),
                                          pl.concat_str([value(c) for c in key], separator=" ")))
    add(pl.col("date").is_null(), pl.lit("row without a date"))
    if not found:
        return pl.DataFrame(schema={"date": pl.Date, "what": pl.Utf8})
    return pl.concat(found).unique(maintain_order=True).sort("date", nulls_last=True, maintain_order=True)


def plausible_values(frame: pl.DataFrame, source: str, table: str) -> QualityResult:
    """No impossible values: prices and GVZ strictly positive (and for prices low <= high and no
    one-day jump beyond MAX_ONE_DAY_FACTOR), rates within RATE_BOUNDS, one row per day."""
    defects = _defects(frame, source)
    days = defects["date"].unique(maintain_order=True)
    spelled = [f"{day if day is not None else '(no date)'} {what}"
               for day, what in defects.head(SHOWN_DEFECTS).iter_rows()]
    more = defects.height - len(spelled)
    description = f"{table}: no implausible rows" if defects.is_empty() else (
        f"{table}: {defects.height} implausible value(s) on {days.len()} day(s): " + "; ".join(spelled)
        + (f"; and {more} more" if more else ""))
    bad_rows = frame.filter(pl.col("date").is_in(days.drop_nulls().implode()) | pl.col("date").is_null()).height
    return QualityResult(
        defects.is_empty(),
        description,
        {"bad_rows": bad_rows, "first_bad_dates": [str(d) for d in days.head(10).to_list()],
         "defects": [f"{day} {what}" for day, what in defects.head(50).iter_rows()]},
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
    """No run of missing sessions longer than the source's calendar allows (MAX_MISSING_RUN), and
    the dates, in the order given, ascending without repeats (rows out of order or twice are a
    broken feed even when every session is there)."""
    cal = CALENDAR_OF[source]
    given = [d for d in dates if d is not None and (since is None or d >= since)]
    out_of_order = [f"{b} after {a}" for a, b in zip(given, given[1:]) if b < a]
    repeated = sorted(d for d, n in Counter(given).items() if n > 1)
    present = sorted(set(given))
    if not present:
        return QualityResult(True, f"{source}: no dates to check", {"calendar": cal, "missing_sessions": 0})
    missing = calendar.missing_sessions(present, cal)
    runs = _runs(missing, calendar.sessions(present[0], present[-1], cal)) if missing else []
    too_long = [f"{a}..{b} ({n})" for a, b, n in runs if n > MAX_MISSING_RUN[source]]
    extra = calendar.non_session_dates(present, cal)
    problems = [f"{what}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
                for what, items in (("missing sessions", too_long), ("dates out of order", out_of_order),
                                    ("dates repeated", [str(d) for d in repeated])) if items]
    return QualityResult(
        not problems,
        f"{source}: {len(missing)} missing {cal} sessions in {len(runs)} runs; "
        f"{len(too_long)} runs longer than {MAX_MISSING_RUN[source]} allowed"
        + "".join(f"; {problem}" for problem in problems),
        {
            "calendar": cal,
            "missing_sessions": len(missing),
            "runs_too_long": too_long[:10],
            "rows_on_closed_days": [str(d) for d in extra[:10]],
            "out_of_order": out_of_order[:10],
            "repeated_dates": [str(d) for d in repeated[:10]],
        },
    )


def freshness(last_date: date | None, now: datetime, status: str, source: str) -> QualityResult:
    """Last stored date vs the last completed session of the source's calendar.

    Session-aware: before the open, overnight, on weekends and holidays the last completed session
    is an earlier day (early closes count at their early time), so no new row is due and nothing
    is stale. Embedded-data runs pass (the embedded snapshot is as fresh as it can be); live runs
    fail when behind the last completed session.
    """
    cal = CALENDAR_OF[source]
    expected = calendar.last_completed_session(now, cal)
    state = calendar.session_state(now, cal)
    if last_date is None:  # an empty table (non_empty fails and blocks too): no crash here
        return QualityResult(False, f"{source}: no rows at all; the last completed session is {expected}",
                             {"last_date": None, "last_completed_session": str(expected), "status": status,
                              "session_state": state})
    behind = len(calendar.sessions(last_date, expected, cal)) - 1 if last_date < expected else 0
    metadata = {"last_date": str(last_date), "last_completed_session": str(expected),
                "sessions_behind": behind, "status": status, "session_state": state}
    if status == "embedded":
        return QualityResult(True, f"{source}: embedded data through {last_date} "
                                   f"({behind} sessions before {expected}); live mode is off", metadata)
    return QualityResult(behind == 0, f"{source}: last row {last_date}, {behind} sessions behind "
                                      f"the last completed session {expected} (status {status}; "
                                      f"{cal} {state} now)", metadata)
