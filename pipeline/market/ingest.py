"""One ingest step per raw table: embedded history, what is already stored, and live rows.

The embedded files are authoritative for their date range; rows stored by earlier live runs are
kept after it; a live fetch (when on) only asks for days after the last known one. Any live
failure keeps the rest and says why in `status`/`reason`, so a run never fails for the network.

The expected last day is the last completed session (`calendar.last_completed_session`): nothing
new is due overnight, on weekends or holidays, and a bar of a session still in progress (Yahoo
serves one during market hours) is left out, so the day's final bar is fetched after its close.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

import polars as pl

from pipeline.market import calendar
from pipeline.market.yahoo import LiveFetchError

Status = Literal["embedded", "live", "partial", "stale"]


@dataclass(frozen=True)
class IngestResult:
    """Rows to store plus where they came from."""

    frame: pl.DataFrame
    status: Status
    reason: str

    @property
    def last_date(self) -> date:
        return self.frame["date"].max()  # type: ignore[return-value]

    def metadata(self) -> dict[str, object]:
        sources = self.frame.group_by("source").len().sort("source")
        return {
            "status": self.status,
            "reason": self.reason,
            "rows": self.frame.height,
            "first_date": str(self.frame["date"].min()),
            "last_date": str(self.last_date),
            "rows_by_source": {row["source"]: row["len"] for row in sources.iter_rows(named=True)},
        }


def merge_history(embedded: pl.DataFrame, stored: pl.DataFrame, live: pl.DataFrame | None,
                  key: list[str]) -> pl.DataFrame:
    """Embedded rows, then stored rows after them, then live rows after those; one row per key."""
    embedded_last = embedded["date"].max()
    stored = stored.select(embedded.columns).cast(dict(embedded.schema))
    parts = [embedded, stored.filter(pl.col("date") > embedded_last)]
    known_last = max(d for d in (embedded_last, stored["date"].max()) if d is not None)
    if live is not None:
        live = live.select(embedded.columns).cast(dict(embedded.schema))
        parts.append(live.filter(pl.col("date") > known_last))
    return pl.concat(parts, how="vertical_relaxed").unique(key, keep="first").sort(key)


def ingest(
    *,
    table: str,
    embedded: pl.DataFrame,
    stored: pl.DataFrame,
    key: list[str],
    live: bool,
    fetch_live: Callable[[date], pl.DataFrame],
    now: datetime,
    calendar_name: str = calendar.EQUITY_CALENDAR,
) -> IngestResult:
    """Build the rows for `table`. `fetch_live(start)` returns live rows from `start` on."""
    if not live:
        return IngestResult(merge_history(embedded, stored, None, key), "embedded",
                            "live mode off (set VAULT_LIVE=1 to fetch from yfinance)")
    known_last = max(d for d in (embedded["date"].max(), stored["date"].max()) if d is not None)
    expected = calendar.last_completed_session(now, calendar_name)
    if known_last >= expected:
        return IngestResult(merge_history(embedded, stored, None, key), "live",
                            f"already up to date through {known_last} "
                            f"(last completed {calendar_name} session {expected})")
    try:
        fetched = fetch_live(known_last + timedelta(days=1))
    except LiveFetchError as error:
        return IngestResult(merge_history(embedded, stored, None, key), "stale",
                            f"{table}: live fetch failed, kept data through {known_last}: {error}")
    unfinished = fetched.filter(pl.col("date") > expected)
    fetched = fetched.filter(pl.col("date") <= expected)
    note = (f"; left out the unfinished bar of {unfinished['date'].max()} (session not closed)"
            if unfinished.height else "")
    merged = merge_history(embedded, stored, fetched, key)
    got_last = merged["date"].max()
    if got_last < expected:
        return IngestResult(merged, "partial",
                            f"{table}: yfinance returned data through {got_last}; "
                            f"last completed session is {expected}{note}")
    return IngestResult(merged, "live", f"{table}: fetched {fetched.height} rows through {got_last}{note}")
