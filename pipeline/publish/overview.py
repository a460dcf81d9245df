"""The overview: the one set of figures on the front page and in the PDF report.

Both outputs render from the same `OverviewContext`, so the page and the emailed report can never
disagree about a number: where LTV stands against the warn, critical, margin-call and liquidation
levels, how far gold can fall before the call (with and without the hedges), the cure, the hedges
held, the open alerts and whether protection is cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Final, Literal

import polars as pl

from pipeline.publish.alert_log import AlertEpisode, alert_episodes
from pipeline.publish.context import LevelKind, LtvLevel, StatusLevel, classify_status, ltv_levels, severity_rank
from pipeline.publish.data import DashboardData
from pipeline.publish.strategies import ProtectionSignal

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
    "liquidation_ltv",
    "liquidation_price",
    "target_ltv",
    "cure_amount",
    "recommended_collateral_shares",
    "hedge_value",
    "hedged_ltv",
)
GAUGE_STEP: Final = 0.10  # the gauge's ends are rounded out to whole 10 % steps
GAUGE_MARGIN: Final = 0.05  # and leave at least this much LTV beyond the outermost mark
GAUGE_LABEL_ROWS: Final = 3  # lines of level labels under the gauge, taken in turn from the lowest level


@dataclass(frozen=True)
class GaugeSegment:
    """A coloured stretch of the gauge, in percent of its width."""

    start_pct: float
    width_pct: float
    kind: LevelKind | Literal["ok"]


@dataclass(frozen=True)
class GaugeTick:
    """A level's tick; `row` (0 .. GAUGE_LABEL_ROWS - 1) is the line under the bar its label sits on, so
    that neighbouring labels do not collide even on a phone."""

    level: LtvLevel
    position_pct: float
    row: int


@dataclass(frozen=True)
class LtvGauge:
    """LTV on a bar from `low` to `high`: coloured by severity, with a tick per level and markers
    for today's LTV without and with the hedges."""

    low: float
    high: float
    segments: tuple[GaugeSegment, ...]
    ticks: tuple[GaugeTick, ...]
    ltv_pct: float
    hedged_ltv_pct: float


def ltv_gauge(ltv: float, hedged_ltv: float, levels: tuple[LtvLevel, ...]) -> LtvGauge:
    """Place the levels and both LTVs on a bar rounded out to 10 % steps around all of them."""
    values = [ltv, hedged_ltv, *(level.ltv for level in levels)]
    low = max(0.0, math.floor((min(values) - GAUGE_MARGIN) / GAUGE_STEP) * GAUGE_STEP)
    high = math.ceil((max(values) + GAUGE_MARGIN) / GAUGE_STEP) * GAUGE_STEP

    def position(value: float) -> float:
        return round((value - low) / (high - low) * 100, 2)

    segments: list[GaugeSegment] = []
    start, kind, worst = low, "ok", -1
    for level in (level for level in levels if level.kind != "target"):
        if level.ltv > start:
            segments.append(GaugeSegment(position(start), position(level.ltv) - position(start), kind))
            start = level.ltv
        if severity_rank(level.kind) > worst:
            kind, worst = level.kind, severity_rank(level.kind)
    segments.append(GaugeSegment(position(start), 100 - position(start), kind))
    return LtvGauge(
        low=low, high=high, segments=tuple(segments),
        ticks=tuple(GaugeTick(level, position(level.ltv), i % GAUGE_LABEL_ROWS) for i, level in enumerate(levels)),
        ltv_pct=position(ltv), hedged_ltv_pct=position(hedged_ltv),
    )


@dataclass(frozen=True)
class HeldHedge:
    """A hedge held on the latest day (an analytics.positions_latest row)."""

    position_id: str
    option_right: str
    strike: float
    expiry: date
    contracts: int
    entry_date: date
    dte: int
    mark: float
    mark_source: str
    position_value: float
    pnl: float
    delta: float
    triage: str
    triage_rule: str

    @property
    def term_days(self) -> int:
        """Calendar days from entry to expiry (the DTE countdown's full length)."""
        return max((self.expiry - self.entry_date).days, 1)


@dataclass(frozen=True, eq=False)
class OverviewContext:
    """Everything the overview page and the PDF report display."""

    portfolio_name: str
    generated_at: datetime
    symbol: str
    gld_close: float
    gld_close_date: date
    gld_close_source: str
    as_of: date
    ltv: float
    hedged_ltv: float
    hedge_value: float
    margin_call_ltv: float
    margin_call_price: float
    hedged_margin_call_price: float | None
    """None when the hedges alone cover the margin call at any price."""
    distance_to_margin_call: float
    liquidation_ltv: float
    liquidation_price: float
    target_ltv: float
    cure_amount: float
    extra_shares_to_target: float
    """GLD shares to pledge instead of paying the cure (0 when at or under target)."""
    loan: float
    collateral_value: float
    shares: float
    levels: tuple[LtvLevel, ...]
    """Warn, critical and margin call: the chart lines."""
    gauge: LtvGauge
    hedges: tuple[HeldHedge, ...]
    open_alerts: tuple[AlertEpisode, ...]
    signal: ProtectionSignal | None
    history: pl.DataFrame
    """date, ltv, hedged_ltv since the portfolio's start: the LTV chart's data."""

    @property
    def history_start(self) -> date:
        return self.history["date"][0]

    @property
    def history_end(self) -> date:
        return self.history["date"][-1]

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
    def hedges_cover_call(self) -> bool:
        return self.hedged_margin_call_price is None

    @property
    def hedged_distance_to_margin_call(self) -> float | None:
        """How far gold can fall before the call counting the hedges; None when they cover it."""
        if self.hedged_margin_call_price is None:
            return None
        return 1 - self.hedged_margin_call_price / self.gld_close

    @property
    def gauge_summary(self) -> str:
        """The gauge in one sentence, for readers who cannot see it."""
        levels = ", ".join(f"{level.label.lower()} {level.ltv:.1%}" for level in self.gauge_levels)
        return (f"LTV {self.ltv:.1%} ({self.hedged_ltv:.1%} counting the hedges) on {self.as_of.isoformat()}; "
                f"levels: {levels}.")

    @property
    def gauge_levels(self) -> tuple[LtvLevel, ...]:
        return tuple(tick.level for tick in self.gauge.ticks)

    @property
    def ltv_chart_summary(self) -> str:
        """The LTV chart in one sentence."""
        peak = self.history.sort("ltv").row(-1, named=True)
        return (f"LTV from {self.history_start.isoformat()} to {self.history_end.isoformat()}: "
                f"highest {peak['ltv']:.1%} on {peak['date'].isoformat()}, latest {self.ltv:.1%} "
                f"({self.hedged_ltv:.1%} with hedges); margin call at {self.margin_call_ltv:.1%}.")


def build_overview_context(data: DashboardData) -> OverviewContext:
    """Summarise the latest `analytics.ltv_daily` row, the hedges and alerts of that day, the latest
    GLD price and protection signal.

    The GLD close comes from `raw.prices_daily` (the latest row for the symbol, so its source is
    known); if that frame has no such row, the close in the latest LTV row is used and its source is
    reported as unknown.
    """
    ltv = data.ltv
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

    close, close_date, close_source = _latest_close(data.prices, data.symbol)
    if close is None:
        close, close_date, close_source = latest["gld_close"], latest["date"], "unknown (not in raw.prices_daily)"

    levels = ltv_levels(data.warn_ltv, data.critical_ltv, latest["margin_call_ltv"])
    gauge_levels = ltv_levels(data.warn_ltv, data.critical_ltv, latest["margin_call_ltv"],
                              liquidation=latest["liquidation_ltv"], target=latest["target_ltv"])
    return OverviewContext(
        portfolio_name=data.portfolio_name,
        generated_at=data.generated_at,
        symbol=data.symbol,
        gld_close=float(close),
        gld_close_date=close_date,
        gld_close_source=str(close_source),
        as_of=latest["date"],
        ltv=latest["ltv"],
        hedged_ltv=latest["hedged_ltv"],
        hedge_value=latest["hedge_value"],
        margin_call_ltv=latest["margin_call_ltv"],
        margin_call_price=latest["margin_call_price"],
        hedged_margin_call_price=latest.get("hedged_margin_call_price"),
        distance_to_margin_call=latest["distance_to_margin_call"],
        liquidation_ltv=latest["liquidation_ltv"],
        liquidation_price=latest["liquidation_price"],
        target_ltv=latest["target_ltv"],
        cure_amount=latest["cure_amount"],
        extra_shares_to_target=max(latest["recommended_collateral_shares"] - latest["shares"], 0.0),
        loan=latest["loan"],
        collateral_value=latest["collateral_value"],
        shares=latest["shares"],
        levels=levels,
        gauge=ltv_gauge(latest["ltv"], latest["hedged_ltv"], gauge_levels),
        hedges=_held_hedges(data.positions, latest["date"]),
        open_alerts=tuple(sorted((episode for episode in alert_episodes(data.alerts) if episode.is_open),
                                 key=lambda episode: -episode.severity_rank)),
        signal=_latest_signal(data.strategies.protection_signal),
        history=history.select("date", "ltv", "hedged_ltv"),
    )


def _held_hedges(positions: pl.DataFrame, day: date) -> tuple[HeldHedge, ...]:
    """The hedges held on `day`, soonest expiry first."""
    held = positions.filter(pl.col("date") == day).sort("expiry", "position_id")
    names = [field.name for field in fields(HeldHedge)]
    return tuple(HeldHedge(**row) for row in held.select(names).iter_rows(named=True))


def _latest_signal(signals: pl.DataFrame) -> ProtectionSignal | None:
    """The latest protection-signal row, or None before the strategy engine has run."""
    if signals.is_empty():
        return None
    names = [field.name for field in fields(ProtectionSignal)]
    return ProtectionSignal(**signals.sort("date").select(names).row(-1, named=True))


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
