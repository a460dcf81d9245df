"""What every page shares: status levels, the masthead (data source, as-of date, stale banner) and
the named LTV levels drawn on the gauge and the charts.

The page contexts (overview.py, strategies.py, chain.py, ...) build on these, so a status or a
threshold reads the same on every page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from pipeline.publish.data import DashboardData

StatusLevel = Literal["fresh", "embedded", "model", "stale"]
LevelKind = Literal["target", "warn", "critical", "margin-call", "liquidation"]

# What each raw table holds, in words; `{symbol}` is the collateral symbol.
INPUT_LABELS: Final = {
    "raw.prices_daily": "{symbol} prices",
    "raw.gvz_daily": "GVZ (gold implied vol)",
    "raw.rates_daily": "3-month T-bill",
    "raw.option_quotes": "option chain",
}
STATUS_WORDS: Final = {
    "embedded": "embedded history",
    "model": "model, not market quotes",
    "live": "live from yfinance",
    "partial": "partial",
    "stale": "stale",
}
# Severity order of the LTV levels, least severe first; the target is a goal, not a severity.
SEVERITY: Final[tuple[LevelKind, ...]] = ("warn", "critical", "margin-call", "liquidation")


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


@dataclass(frozen=True)
class InputStatus:
    """The latest ingest of one raw table (a `raw.ingest_status` row), labelled for readers."""

    table_name: str
    label: str
    status: str
    reason: str
    level: StatusLevel
    rows: int
    first_date: date | None
    last_date: date | None
    ingested_at: datetime

    @property
    def is_stale_or_partial(self) -> bool:
        """True when a live fetch failed or came back short: the figures use older data."""
        return self.level == "stale"

    @property
    def status_words(self) -> str:
        return STATUS_WORDS.get(self.status, self.status)


@dataclass(frozen=True)
class SiteHeader:
    """What every page's masthead says: whose loan, data as of when, where the data came from,
    and whether some of it is stale or partial."""

    portfolio_name: str
    as_of: date | None
    """The latest analytics.ltv_daily day; None before the first run."""
    generated_at: datetime
    inputs: tuple[InputStatus, ...]

    @property
    def stale_inputs(self) -> tuple[InputStatus, ...]:
        return tuple(status for status in self.inputs if status.is_stale_or_partial)

    @property
    def source_summary(self) -> str:
        """The inputs grouped by how they were obtained, e.g.
        "GLD prices, GVZ (gold implied vol), 3-month T-bill: embedded history · option chain: model, not market quotes"."""
        groups: dict[str, list[str]] = {}
        for status in self.inputs:
            groups.setdefault(status.status_words, []).append(status.label)
        return " · ".join(f"{', '.join(labels)}: {words}" for words, labels in groups.items()) or "no ingest yet"


def build_site_header(data: DashboardData) -> SiteHeader:
    """The masthead facts from raw.ingest_status and the latest LTV day."""
    latest = data.ltv["date"].max() if data.ltv.height else None
    return SiteHeader(
        portfolio_name=data.portfolio_name,
        as_of=latest if isinstance(latest, date) else None,
        generated_at=data.generated_at,
        inputs=tuple(
            InputStatus(
                table_name=row["table_name"],
                label=INPUT_LABELS.get(row["table_name"], row["table_name"]).format(symbol=data.symbol),
                status=row["status"],
                reason=row["reason"],
                level=classify_status(row["status"]),
                rows=row["rows"],
                first_date=row["first_date"],
                last_date=row["last_date"],
                ingested_at=row["ingested_at"],
            )
            for row in sorted(data.ingest_status.iter_rows(named=True), key=lambda row: _input_order(row["table_name"]))
        ),
    )


def _input_order(table_name: str) -> tuple[int, str]:
    """Known inputs in INPUT_LABELS order (prices first), any other table after them by name."""
    known = list(INPUT_LABELS)
    return (known.index(table_name) if table_name in known else len(known), table_name)


@dataclass(frozen=True)
class LtvLevel:
    """A named LTV level: a threshold line on the charts and a tick on the gauge. Equal levels are
    merged into one ("Critical / margin call")."""

    label: str
    ltv: float
    kind: LevelKind


def ltv_levels(
    warn: float, critical: float, margin_call: float, *, liquidation: float | None = None,
    target: float | None = None,
) -> tuple[LtvLevel, ...]:
    """The levels lowest first, equal ones merged under the more severe kind."""
    named: list[LtvLevel] = [LtvLevel("Warn", warn, "warn"), LtvLevel("Critical", critical, "critical"),
                             LtvLevel("Margin call", margin_call, "margin-call")]
    if liquidation is not None:
        named.append(LtvLevel("Liquidation", liquidation, "liquidation"))
    if target is not None:
        named.append(LtvLevel("Target", target, "target"))
    merged: list[LtvLevel] = []
    for level in sorted(named, key=lambda level: (level.ltv, severity_rank(level.kind))):
        if merged and math.isclose(merged[-1].ltv, level.ltv, abs_tol=1e-9):
            merged[-1] = LtvLevel(f"{merged[-1].label} / {level.label.lower()}", level.ltv, level.kind)
        else:
            merged.append(level)
    return tuple(merged)


def severity_rank(kind: LevelKind) -> int:
    """Position in SEVERITY (-1 for the target): higher is more severe."""
    return SEVERITY.index(kind) if kind in SEVERITY else -1


