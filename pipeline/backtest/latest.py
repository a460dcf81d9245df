"""The selloff happening now, backtested like a preset: the window the live `selloff` alert found.

The window runs from the lookback high to the latest close (no tail: there is no future yet);
it is compared with the stored historical events closest to it in depth (`matching_event_ids`).
"""

from __future__ import annotations

from datetime import date
from typing import Final

import polars as pl

from pipeline.backtest.events import Event, events_frame
from pipeline.backtest.inputs import BacktestInputs
from pipeline.backtest.runs import EventResult, book_signal, event_backtest
from pipeline.config import Portfolio

LATEST_EVENT_ID: Final = "latest"
COMPARED_EVENTS: Final = 3


def latest_backtest(inputs: BacktestInputs, book: Portfolio, start: date, end: date) -> tuple[dict, EventResult]:
    """(backtest_events-like row, runs and paths) of the window start..end, hedge bought on `start`."""
    provider = inputs.provider(book.backtest.provider)
    event = Event(LATEST_EVENT_ID, f"Current selloff from {start.isoformat()}", start, end, "live")
    row = events_frame(provider.market, (event,), 0).row(0, named=True)
    return row, event_backtest(provider, event, book, inputs.latest_ltv, book_signal(provider.market, book))


def matching_event_ids(drawdown: float, events: pl.DataFrame, count: int = COMPARED_EVENTS) -> list[str]:
    """The stored events (`analytics.backtest_events`) nearest in drawdown to `drawdown`, nearest first."""
    if events.is_empty():
        return []
    nearest = events.sort((pl.col("drawdown") - drawdown).abs(), "event_id").head(count)
    return nearest["event_id"].to_list()
