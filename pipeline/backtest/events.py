"""Named selloff windows (`analytics.backtest_events`): the presets and the user's own.

Preset windows run peak to trough on the embedded GLD closes (the hedge is bought on the start
day's close); the path runs `tail_days` trading days past the end so a hedge's recovery shows.
`full` runs from GLD's first close to the last one in the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np
import polars as pl

from pipeline.backtest.engine import event_day_range
from pipeline.backtest.providers import Market
from pipeline.config import BacktestSettings


@dataclass(frozen=True)
class Event:
    event_id: str
    label: str
    start: date
    end: date | None  # None: the last close
    source: str = "preset"


FULL_EVENT_ID: Final = "full"
PRESET_EVENTS: Final[tuple[Event, ...]] = (
    Event("gfc_2008", "Global financial crisis 2008", date(2008, 3, 17), date(2008, 11, 12)),
    Event("euro_2011", "Euro crisis top 2011", date(2011, 8, 22), date(2011, 12, 29)),
    Event("taper_2013", "Taper tantrum 2013", date(2013, 4, 1), date(2013, 6, 27)),
    Event("bear_2011_2015", "Gold bear market 2011-2015", date(2011, 8, 22), date(2015, 12, 17)),
    Event("covid_2020", "Covid liquidation March 2020", date(2020, 3, 9), date(2020, 3, 19)),
    Event("peak_2020_2022", "From the 2020 peak to 2022", date(2020, 8, 6), date(2022, 9, 26)),
    Event("oct_2025", "October 2025 reversal", date(2025, 10, 20), date(2025, 11, 4)),
    Event("jan_2026", "January 2026 crash", date(2026, 1, 29), date(2026, 2, 2)),
    Event("mar_2026", "March 2026 selloff", date(2026, 3, 2), date(2026, 3, 26)),
    Event("h1_2026", "First half 2026", date(2026, 1, 29), date(2026, 7, 16)),
    Event(FULL_EVENT_ID, "Everything since 2004", date(2004, 11, 18), None),
)
PRESET_IDS: Final = frozenset(e.event_id for e in PRESET_EVENTS)


def events_for(settings: BacktestSettings) -> tuple[Event, ...]:
    """The presets followed by the user's `[[backtest.events]]`; an id reusing a preset's is refused."""
    user = []
    for i, spec in enumerate(settings.events):
        if spec.id in PRESET_IDS:
            raise ValueError(f"backtest.events.{i}.id={spec.id!r} is a preset id; choose another "
                             f"(presets: {sorted(PRESET_IDS)})")
        user.append(Event(spec.id, spec.label or spec.id, spec.start, spec.end, "user"))
    return PRESET_EVENTS + tuple(user)


def replayable(events: tuple[Event, ...], market: Market) -> tuple[Event, ...]:
    """The events that start on or before the last close (a user's future window waits for its data)."""
    return tuple(e for e in events if e.start <= market.day(market.size - 1))


EVENT_SCHEMA: Final = {
    "event_id": pl.String, "label": pl.String, "source": pl.String, "start_date": pl.Date, "end_date": pl.Date,
    "path_end_date": pl.Date, "tail_days": pl.Int32, "trading_days": pl.Int32, "start_close": pl.Float64,
    "end_close": pl.Float64, "low_close": pl.Float64, "low_date": pl.Date, "drawdown": pl.Float64,
}


def event_window(market: Market, event: Event, tail_days: int) -> tuple[int, int, int]:
    """(first, end, last) market indices: start close, end close, path end (end + tail, capped)."""
    end = event.end or market.day(market.size - 1)
    first, last = event_day_range(market, event.start, end, tail_days)
    return first, market.index_on_or_before(end), last


def events_frame(market: Market, events: tuple[Event, ...], tail_days: int) -> pl.DataFrame:
    """`analytics.backtest_events` rows; events with no closes in the data are left out."""
    rows = []
    for event in replayable(events, market):
        first, end, last = event_window(market, event, tail_days)
        low = first + int(np.argmin(market.close[first:end + 1]))
        rows.append((event.event_id, event.label, event.source, market.day(first), market.day(end), market.day(last),
                     tail_days, last - first + 1, float(market.close[first]), float(market.close[end]),
                     float(market.close[low]), market.day(low), float(market.close[low] / market.close[first] - 1)))
    return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")
