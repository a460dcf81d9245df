"""The one set of figures shown on the dashboard page and in the PDF report.

Both outputs render from the same `OverviewContext`, so the page and the emailed
report can never disagree about a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import polars as pl

REQUIRED_LTV_COLUMNS: tuple[str, ...] = (
    "date",
    "gld_close",
    "shares",
    "collateral_value",
    "loan",
    "ltv",
    "margin_call_ltv",
    "margin_call_price",
    "distance_to_margin_call",
)

StatusLevel = Literal["fresh", "embedded", "model", "stale"]


@dataclass(frozen=True)
class SourceStatus:
    """Freshness of one input source, classified so the page can flag it."""

    source: str
    detail: str
    level: StatusLevel

    @property
    def is_degraded(self) -> bool:
        """True when the figures do not come from a fresh download."""
        return self.level != "fresh"


@dataclass(frozen=True)
class OverviewContext:
    """Everything the overview page and the PDF report display."""

    portfolio_name: str
    generated_at: datetime
    gld_close: float
    gld_close_date: date
    gld_close_source: str
    as_of: date
    ltv: float
    margin_call_ltv: float
    margin_call_price: float
    distance_to_margin_call: float
    loan: float
    collateral_value: float
    shares: float
    history_start: date
    history_end: date
    data_status: tuple[SourceStatus, ...]

    @property
    def gld_close_source_level(self) -> StatusLevel:
        """How fresh the GLD close is, judged from its source name."""
        if self.gld_close_source.startswith("unknown"):
            return "stale"
        return classify_status(self.gld_close_source)

    @property
    def is_above_margin_call(self) -> bool:
        """True when the loan is already at or beyond the margin-call LTV."""
        return self.ltv >= self.margin_call_ltv

    @property
    def has_degraded_data(self) -> bool:
        """True when any source is embedded or stale rather than freshly fetched."""
        return any(status.is_degraded for status in self.data_status)


def classify_status(detail: str) -> StatusLevel:
    """Map a free-text status such as "stale: timeout" or "embedded" to a level.

    `partial` (live data with days or expiries missing) counts as stale; `model` (generated
    option quotes) gets its own level so model prices are never shown as market data.
    """
    lowered = detail.strip().lower()
    if lowered.startswith(("stale", "partial", "error", "failed", "missing", "unavailable")):
        return "stale"
    if lowered.startswith("embedded"):
        return "embedded"
    if lowered.startswith("model"):
        return "model"
    return "fresh"


def build_overview_context(
    ltv: pl.DataFrame,
    prices: pl.DataFrame,
    data_status: dict[str, str],
    portfolio_name: str,
    generated_at: datetime,
    *,
    symbol: str = "GLD",
) -> OverviewContext:
    """Summarise the latest `analytics.ltv_daily` row and the latest GLD price.

    The GLD close comes from `raw.prices_daily` (the latest row for `symbol`, so its
    source is known); if that frame has no such row, the close in the latest LTV row
    is used and its source is reported as unknown.
    """
    if ltv.is_empty():
        raise ValueError("analytics.ltv_daily is empty: nothing to publish")
    missing = [name for name in REQUIRED_LTV_COLUMNS if name not in ltv.columns]
    if missing:
        raise ValueError(f"analytics.ltv_daily lacks columns {missing}")

    history = ltv.drop_nulls("date").sort("date")
    if history.is_empty():
        raise ValueError("analytics.ltv_daily has no dated rows: nothing to publish")
    latest = history.row(-1, named=True)
    null_fields = [name for name in REQUIRED_LTV_COLUMNS if latest[name] is None]
    if null_fields:
        raise ValueError(f"latest analytics.ltv_daily row ({latest['date']}) has nulls in {null_fields}")

    close, close_date, close_source = _latest_close(prices, symbol)
    if close is None:
        close, close_date, close_source = latest["gld_close"], latest["date"], "unknown (not in raw.prices_daily)"

    return OverviewContext(
        portfolio_name=portfolio_name,
        generated_at=generated_at,
        gld_close=float(close),
        gld_close_date=close_date,
        gld_close_source=str(close_source),
        as_of=latest["date"],
        ltv=float(latest["ltv"]),
        margin_call_ltv=float(latest["margin_call_ltv"]),
        margin_call_price=float(latest["margin_call_price"]),
        distance_to_margin_call=float(latest["distance_to_margin_call"]),
        loan=float(latest["loan"]),
        collateral_value=float(latest["collateral_value"]),
        shares=float(latest["shares"]),
        history_start=history["date"][0],
        history_end=history["date"][-1],
        data_status=tuple(
            SourceStatus(source=source, detail=detail, level=classify_status(detail))
            for source, detail in sorted(data_status.items())
        ),
    )


def _latest_close(prices: pl.DataFrame, symbol: str) -> tuple[float | None, date | None, str | None]:
    """Latest close for `symbol` (latest fetch wins on duplicate dates), or Nones."""
    if prices.is_empty() or not {"date", "close"} <= set(prices.columns):
        return None, None, None
    rows = prices.drop_nulls(["date", "close"])
    if "symbol" in rows.columns:
        rows = rows.filter(pl.col("symbol") == symbol)
    if rows.is_empty():
        return None, None, None
    sort_keys = ["date", "fetched_at"] if "fetched_at" in rows.columns else ["date"]
    latest = rows.sort(sort_keys, nulls_last=False).row(-1, named=True)
    return latest["close"], latest["date"], latest.get("source") or "unknown"
