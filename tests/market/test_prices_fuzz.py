"""Generated defects in real GLD price history, through the raw-table quality rules.

Each example takes a window of the embedded GLD bars (`raw.prices_daily` layout, 2004-2026) and
breaks it in one to three places, at dates a few sessions apart: a gap (sessions removed), a
duplicated day, a zero, negative, NaN, infinite or missing price, a split (every bar from one day
on x2, x0.5, x3, x1/3, x1.5 or x2/3), a one-day bad print (one close x2 or x0.5), high < low,
rows out of date order.

Properties:
- each defect is reported by the check that owns it (`plausible_values` for values, duplicates
  and jumps; `no_calendar_gaps` for gaps, order and repeats) with its date and a phrase naming it;
- no check reports a date that was not broken (a defect does not smear onto its neighbours,
  except a bad print, whose next day jumps back);
- `plausible_values` does not depend on row order (out-of-order rows are not a split);
- clean windows of the real history pass both checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timezone

import polars as pl
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline.market import embedded, quality

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 11, 20, 22, 0, tzinfo=timezone.utc)
GLD = embedded.load_prices("GLD", NOW)
TABLE = "raw.prices_daily"
COLUMNS = ("open", "high", "low", "close")
SPLITS = (2.0, 0.5, 3.0, 1 / 3, 1.5, 2 / 3)
KINDS = ("gap", "duplicate", "zero", "negative", "nan", "infinite", "missing", "split", "bad_print",
         "high_below_low", "out_of_order")
WINDOW = st.tuples(st.integers(0, GLD.height - 60), st.integers(40, 400))


@dataclass(frozen=True)
class Defect:
    kind: str
    at: int  # row index inside the window
    column: str
    factor: float


@dataclass(frozen=True)
class Expected:
    """What one defect must produce: the check, the phrase, the dates that must be named, and the
    dates it may legitimately make a check report."""

    check: str
    phrase: str
    named: tuple[date, ...]
    allowed: tuple[date, ...]


def window(start: int, length: int) -> pl.DataFrame:
    return GLD.slice(start, min(length, GLD.height - start))


@st.composite
def damaged(draw: st.DrawFn) -> tuple[pl.DataFrame, list[Expected]]:
    """A window of real bars with 1..3 defects at rows at least 4 apart (not at the ends)."""
    start, length = draw(WINDOW)
    bars = window(start, length)
    slots, at = [], 3
    for step in draw(st.lists(st.integers(0, bars.height // 3), min_size=1, max_size=3)):
        at += step
        if at > bars.height - 4:
            break
        slots.append(at)
        at += 4
    slots = slots or [3]
    defects = [Defect(draw(st.sampled_from(KINDS)), at, draw(st.sampled_from(COLUMNS)),
                      draw(st.sampled_from(SPLITS))) for at in slots]
    return apply(bars, defects)


def apply(bars: pl.DataFrame, defects: list[Defect]) -> tuple[pl.DataFrame, list[Expected]]:
    """The damaged frame and what each defect must produce."""
    rows = bars.to_dicts()
    dates = [row["date"] for row in rows]
    expected: list[Expected] = []
    removed: set[date] = set()
    copies: dict[int, dict] = {}  # row index -> a second row for the same day, right after it
    swaps: list[int] = []
    for d in defects:
        day, row = dates[d.at], rows[d.at]
        if d.kind == "gap":
            gone = dates[d.at:d.at + (2 if d.factor > 1 else 1)]
            removed.update(gone)
            expected.append(Expected("no_calendar_gaps", "missing sessions", (gone[0],), tuple(gone)))
        elif d.kind == "duplicate":
            copies[d.at] = {**row, "close": row["close"] * (1 + 0.001 * d.factor)}
            expected.append(Expected("plausible_values", "duplicated day", (day,), (day,)))
            expected.append(Expected("no_calendar_gaps", "dates repeated", (day,), (day,)))
        elif d.kind in ("zero", "negative"):
            row[d.column] = 0.0 if d.kind == "zero" else -row[d.column]
            expected.append(Expected("plausible_values", f"non-positive {d.column}", (day,), (day,)))
        elif d.kind in ("nan", "infinite", "missing"):
            row[d.column] = {"nan": math.nan, "infinite": math.inf, "missing": None}[d.kind]
            expected.append(Expected("plausible_values", f"missing or non-finite {d.column}", (day,), (day,)))
        elif d.kind == "split":  # every bar from this day on, as after an unadjusted split
            for later in rows[d.at:]:
                for column in COLUMNS:
                    later[column] *= d.factor
            expected.append(Expected("plausible_values", "one-day jump", (day,), (day,)))
        elif d.kind == "bad_print":  # one bar only: the next day jumps back
            for column in COLUMNS:
                row[column] *= 2.0 if d.factor > 1 else 0.5
            expected.append(Expected("plausible_values", "one-day jump", (day, dates[d.at + 1]),
                                     (day, dates[d.at + 1])))
        elif d.kind == "high_below_low":
            row["high"], row["low"] = row["low"] * 0.999, row["high"] * 1.001
            expected.append(Expected("plausible_values", "> high", (day,), (day,)))
        else:  # this day and the next swapped: the sequence steps back to this day ("day after next")
            swaps.append(d.at)
            expected.append(Expected("no_calendar_gaps", "dates out of order", (day,), (day, dates[d.at + 1])))
    ordered = []
    for i, row in enumerate(rows):
        ordered += [row] + ([copies[i]] if i in copies else [])
    for at in swaps:  # positions shift by one per earlier copy
        j = ordered.index(rows[at])
        ordered[j], ordered[j + 1] = ordered[j + 1], ordered[j]
    frame = pl.DataFrame([row for row in ordered if row["date"] not in removed], schema=bars.schema)
    return frame, expected


def run_checks(frame: pl.DataFrame) -> dict[str, quality.QualityResult]:
    """Both checks as assets/checks.py runs them, on the rows in the order given."""
    return {"plausible_values": quality.plausible_values(frame, "prices", TABLE),
            "no_calendar_gaps": quality.no_calendar_gaps(frame["date"].to_list(), "prices")}


def reported_dates(result: quality.QualityResult, check: str) -> set[str]:
    if check == "plausible_values":
        return set(result.metadata["first_bad_dates"])
    items = result.metadata["runs_too_long"] + result.metadata["out_of_order"] + result.metadata["repeated_dates"]
    return {part for item in items for part in item.replace("..", " ").replace("(", " ").split()
            if part.count("-") == 2}


@FUZZ
@given(case=damaged())
def test_every_price_defect_is_reported_with_its_date(case: tuple[pl.DataFrame, list[Expected]]) -> None:
    """Each defect fails its check, which names it and its date; no other date is blamed."""
    frame, expected = case
    results = run_checks(frame)
    for e in expected:
        event(e.phrase)
        result = results[e.check]
        assert not result.passed, (e, result.description)
        for day in e.named:
            assert any(str(day) in part and e.phrase in part for part in result.description.split("; ")), \
                (e, result.description)
    for check, result in results.items():
        allowed = {str(day) for e in expected if e.check == check for day in e.allowed}
        assert reported_dates(result, check) <= allowed, (check, result.description, allowed)
        if not any(e.check == check for e in expected):
            assert result.passed, (check, result.description)


@FUZZ
@given(case=damaged(), seed=st.integers(0, 2**32 - 1))
def test_value_checks_do_not_depend_on_row_order(case: tuple[pl.DataFrame, list[Expected]], seed: int) -> None:
    """Shuffled rows give the same value findings as sorted ones: order is not a split."""
    frame, _ = case
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    by_date = frame.sort("date", maintain_order=True)
    a = quality.plausible_values(shuffled, "prices", TABLE)
    b = quality.plausible_values(by_date, "prices", TABLE)
    assert (a.passed, sorted(a.metadata["defects"])) == (b.passed, sorted(b.metadata["defects"]))


@FUZZ
@given(span=WINDOW)
def test_clean_real_history_passes(span: tuple[int, int]) -> None:
    """Any window of the real embedded GLD bars passes both checks (no false alarm on real data)."""
    results = run_checks(window(*span))
    assert all(r.passed for r in results.values()), {k: r.description for k, r in results.items()}


def test_the_whole_real_history_passes_and_a_split_in_it_fails_by_name() -> None:
    """5,504 real sessions 2004-11-18..2026-10-06 pass; halving every bar from 2026-10-01 on (an
    unadjusted 2:1 split) fails on exactly that day: 380.84 on 2026-09-30 -> 191.38."""
    results = run_checks(GLD)
    assert all(r.passed for r in results.values()), {k: r.description for k, r in results.items()}
    split = GLD.with_columns(pl.when(pl.col("date") >= date(2026, 10, 1)).then(pl.col(c) / 2).otherwise(pl.col(c))
                             for c in COLUMNS)
    result = quality.plausible_values(split, "prices", TABLE)
    assert not result.passed and result.metadata["first_bad_dates"] == ["2026-10-01"]
    assert "2026-10-01 one-day jump x0.503 in close (380.84 on 2026-09-30 -> 191.38)" in result.description
    # the real history's largest one-day moves stay well inside the threshold
    factors = GLD.select((pl.col("close") / pl.col("close").shift(1)).alias("f"))["f"].drop_nulls()
    assert 1 / quality.MAX_ONE_DAY_FACTOR < factors.min() < 0.9 and 1.11 < factors.max() < quality.MAX_ONE_DAY_FACTOR


def test_empty_tables_do_not_crash_the_checks() -> None:
    """An empty table fails non_empty (blocking) and freshness; the others have nothing to report."""
    empty = GLD.head(0)
    assert not quality.non_empty(empty, TABLE).passed
    assert quality.plausible_values(empty, "prices", TABLE).passed
    assert quality.no_calendar_gaps([], "prices").passed
    stale = quality.freshness(None, NOW, "embedded", "prices")
    assert not stale.passed and "no rows" in stale.description
