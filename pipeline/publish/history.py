"""The LTV history page: daily LTV without and with the hedges against the warn, critical and
margin-call levels, the margin-call price against the GLD close, range buttons, CSV downloads.

A range keeps the days within the last N calendar days of the latest one; each button carries its
N (the charts' `range_days` signal) and a one-sentence summary of what it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Final

import polars as pl

from pipeline.publish.context import LtvLevel, ltv_levels
from pipeline.publish.formatting import format_pct, format_usd
from pipeline.publish.strategies import DOWNLOADS_DIR

if TYPE_CHECKING:
    from pipeline.publish.data import DashboardData

RANGE_DAYS: Final = (7, 30, 90)
HISTORY_COLUMNS: Final = ("date", "ltv", "hedged_ltv", "gld_close", "margin_call_price", "hedged_margin_call_price")


@dataclass(frozen=True)
class HistoryRange:
    """A range button: the last `days` calendar days up to the latest day."""

    label: str
    days: int
    summary: str
    is_default: bool


@dataclass(frozen=True, eq=False)
class Download:
    """A CSV the page links: all columns of a warehouse table."""

    path: str
    """Site-relative path."""
    label: str
    rows: pl.DataFrame

    @property
    def csv(self) -> bytes:
        return self.rows.write_csv().encode("utf-8")


@dataclass(frozen=True, eq=False)
class LtvHistoryContext:
    """Everything the LTV history page shows."""

    levels: tuple[LtvLevel, ...]
    history: pl.DataFrame
    """HISTORY_COLUMNS, oldest first: the charts' data."""
    ranges: tuple[HistoryRange, ...]
    downloads: tuple[Download, ...]

    @property
    def start(self) -> date:
        return self.history["date"][0]

    @property
    def end(self) -> date:
        return self.history["date"][-1]

    @property
    def ltv_chart_caption(self) -> str:
        levels = ", ".join(f"{level.label.lower()} {format_pct(level.ltv, 0)}" for level in self.levels)
        return ("Solid: LTV = loan / collateral. Dashed green: LTV counting the hedges' value as collateral. "
                f"Dashed lines: {levels}.")

    @property
    def default_range(self) -> HistoryRange:
        return next(r for r in self.ranges if r.is_default)

    def files(self) -> dict[str, bytes]:
        """Site-relative path -> CSV bytes."""
        return {download.path: download.csv for download in self.downloads}


def build_ltv_history_context(data: DashboardData) -> LtvHistoryContext:
    """The LTV history with its range buttons, and the ltv_daily / positions_daily CSVs."""
    history = data.ltv.select(HISTORY_COLUMNS).sort("date")
    if history.is_empty():
        raise ValueError("analytics.ltv_daily is empty: no LTV history to show")
    end = history["date"][-1]
    whole_span = (end - history["date"][0]).days + 1
    ranges = [HistoryRange(f"{days} days", days, _range_summary(history, days, f"Last {days} days"), False)
              for days in RANGE_DAYS]
    ranges.append(HistoryRange("All", whole_span, _range_summary(history, whole_span, "Since the start"), True))
    return LtvHistoryContext(
        levels=ltv_levels(data.warn_ltv, data.critical_ltv, data.ltv.sort("date")["margin_call_ltv"][-1]),
        history=history,
        ranges=tuple(ranges),
        downloads=(
            Download(f"{DOWNLOADS_DIR}/ltv_daily.csv", "Daily LTV (analytics.ltv_daily)", data.ltv),
            Download(f"{DOWNLOADS_DIR}/positions_daily.csv", "Daily hedge positions (analytics.positions_daily)",
                     data.positions),
        ),
    )


def _range_summary(history: pl.DataFrame, days: int, title: str) -> str:
    """What the range shows, e.g. "Last 30 days (2026-09-08 to 2026-10-06, 21 trading days): LTV 69.0%
    to 72.4%, with hedges 67.1% to 70.8%; GLD $366.80 to $392.18, margin-call price $366.67."."""
    end = history["date"][-1]
    rows = history.filter((end - pl.col("date")).dt.total_days() < days)
    call = rows["margin_call_price"]
    call_text = (format_usd(call[0], 2) if call.n_unique() == 1
                 else f"{format_usd(call.min(), 2)} to {format_usd(call.max(), 2)}")
    return (
        f"{title} ({rows['date'][0].isoformat()} to {end.isoformat()}, {rows.height} trading days): "
        f"LTV {format_pct(rows['ltv'].min())} to {format_pct(rows['ltv'].max())}, with hedges "
        f"{format_pct(rows['hedged_ltv'].min())} to {format_pct(rows['hedged_ltv'].max())}; "
        f"GLD {format_usd(rows['gld_close'].min(), 2)} to {format_usd(rows['gld_close'].max(), 2)}, "
        f"margin-call price {call_text}."
    )
