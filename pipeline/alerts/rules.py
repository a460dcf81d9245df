"""Alert rules: turn the latest facts into the set of conditions active right now.

The output is a *condition set*, not a history: one row per (rule, subject) that is
active at ``as_of``. Turning condition sets into a history of state changes is the job
of :mod:`pipeline.alerts.state`.

Message convention: every ``message`` starts with a short headline, followed by
details after :data:`HEADLINE_SEPARATOR`. Email subjects use the headline only.

``selloff`` (subject: the collateral symbol) is active when the latest close is at least
``selloff_drawdown`` below the highest close of the last ``selloff_lookback_days`` trading
days (the rows present in ``closes``, the latest included), or at least
``selloff_one_day_fall`` below the previous close. Both comparisons are inclusive: a fall
of exactly the threshold fires (within :data:`THRESHOLD_TOLERANCE`, as 92 / 100 - 1 is
-0.07999999999999996 in floating point). It is always a ``warning``, also when both tests
fire: ``critical`` is kept for the loan itself (the LTV rules escalate when the fall reaches
the margin call), and the log refreshes an open episode's message but not its level, so a
level that changed inside an episode would never be seen.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Level = Literal["info", "warning", "critical"]

LEVELS: Final[tuple[str, ...]] = ("info", "warning", "critical")
"""Alert levels, least to most severe."""

RULES: Final[tuple[str, ...]] = (
    "ltv_warn",
    "ltv_critical",
    "ltv_liquidation",
    "selloff",
    "hedge_expiring",
    "hedge_triage",
    "data_stale",
)
"""Every rule name, in the order rows are reported."""

PORTFOLIO_SUBJECT: Final = "portfolio"
HEADLINE_SEPARATOR: Final = "; "
TRIAGE_CODES_THAT_ALERT: Final = frozenset({"ROLL", "HARVEST"})
HEALTHY_DATA_STATUS: Final = "ok"
POSITION_COLUMNS: Final = ("position_id", "dte", "triage", "triage_rule")
CLOSE_COLUMNS: Final = ("date", "close")
SELLOFF_RULE: Final = "selloff"
THRESHOLD_TOLERANCE: Final = 1e-9
"""A price change this close to a threshold counts as reaching it (floating-point slack)."""

ACTIVE_SCHEMA: Final = pl.Schema(
    {
        "rule": pl.String,
        "subject": pl.String,
        "level": pl.String,
        "message": pl.String,
        "values": pl.String,
    }
)
"""Schema of the condition set returned by :func:`evaluate_alerts`."""


class AlertThresholds(BaseModel):
    """Configurable trigger levels. LTVs are fractions (0.75 = 75 %)."""

    model_config = ConfigDict(frozen=True)

    ltv_warn: float = Field(default=0.70, gt=0, allow_inf_nan=False)
    ltv_critical: float = Field(default=0.75, gt=0, allow_inf_nan=False)
    """The margin-call LTV."""
    ltv_liquidation: float = Field(default=0.90, gt=0, allow_inf_nan=False)
    hedge_expiry_days: int = Field(default=14, ge=0)
    """``hedge_expiring`` fires for held hedges with 0 < DTE <= this many days."""
    selloff_drawdown: float = Field(default=0.08, gt=0, lt=1, allow_inf_nan=False)
    """``selloff`` fires when the close is this fraction (or more) below the lookback high ..."""
    selloff_lookback_days: int = Field(default=60, ge=2)
    """... of this many trading days, the latest included ..."""
    selloff_one_day_fall: float = Field(default=0.04, gt=0, lt=1, allow_inf_nan=False)
    """... or this fraction (or more) below the previous close."""

    @model_validator(mode="after")
    def _thresholds_ascend(self) -> AlertThresholds:
        if not self.ltv_warn <= self.ltv_critical <= self.ltv_liquidation:
            raise ValueError(
                "thresholds must satisfy ltv_warn <= ltv_critical <= ltv_liquidation, got "
                f"ltv_warn={self.ltv_warn}, ltv_critical={self.ltv_critical}, "
                f"ltv_liquidation={self.ltv_liquidation}"
            )
        return self


class AlertInputs(BaseModel):
    """The latest facts the rules look at.

    - ``as_of``: the market date the facts describe.
    - ``ltv``: loan-to-value as a fraction; ``gld_close``: collateral close that day;
      ``margin_call_price``: the GLD price at which LTV reaches ``ltv_critical``;
      ``cure_amount``: repayment needed to bring LTV back under the margin call.
    - ``hedge_value``: today's mark of the held hedges (0 without hedges); ``hedged_ltv``:
      loan / (collateral + hedge value); ``hedged_margin_call_price``: the GLD price at which
      the hedged LTV reaches the call (None when the hedges alone cover it). LTV alerts show
      them when hedges are held, so the email says how much protection the book already has.
    - ``positions``: the hedge positions currently held, columns ``position_id`` (str),
      ``dte`` (int, days to expiry), ``triage`` (code such as HOLD/ROLL/HARVEST),
      ``triage_rule`` (which triage rule produced the code). Extra columns are ignored.
    - ``data_status``: source name -> status; ``"ok"`` means healthy, anything else
      (e.g. ``"stale: last bar 2026-01-28"``, ``"partial"``) raises ``data_stale``.
    - ``closes``: the collateral's daily closes, columns ``date`` (date) and ``close``
      (float), at least the last ``selloff_lookback_days`` trading days up to ``as_of``
      (later rows are ignored); empty (the default) leaves ``selloff`` inactive.
      ``collateral_symbol`` is the ``selloff`` subject.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    as_of: date
    ltv: float = Field(ge=0, allow_inf_nan=False)
    gld_close: float = Field(gt=0, allow_inf_nan=False)
    margin_call_price: float = Field(ge=0, allow_inf_nan=False)
    cure_amount: float = Field(ge=0, allow_inf_nan=False)
    hedge_value: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    hedged_ltv: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    hedged_margin_call_price: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    thresholds: AlertThresholds = Field(default_factory=AlertThresholds)
    positions: pl.DataFrame = Field(
        default_factory=lambda: pl.DataFrame(
            schema={"position_id": pl.String, "dte": pl.Int64, "triage": pl.String, "triage_rule": pl.String}
        )
    )
    data_status: dict[str, str] = Field(default_factory=dict)
    closes: pl.DataFrame = Field(default_factory=lambda: pl.DataFrame(schema={"date": pl.Date, "close": pl.Float64}))
    collateral_symbol: str = Field(default="GLD", min_length=1)

    @field_validator("closes")
    @classmethod
    def _closes_are_usable(cls, closes: pl.DataFrame) -> pl.DataFrame:
        _require_columns(closes, "closes", CLOSE_COLUMNS)
        closes = closes.select(pl.col("date").cast(pl.Date), pl.col("close").cast(pl.Float64))
        bad = closes.filter(pl.col("date").is_null() | pl.col("close").is_null() | ~pl.col("close").is_finite()
                            | (pl.col("close") <= 0))
        if bad.height:
            shown = [(str(day), close) for day, close in bad.head(5).rows()]
            raise ValueError(f"closes need a date and a positive, finite close; bad (date, close) {shown}")
        _reject_repeats(closes, "closes", "date")
        return closes

    @field_validator("positions")
    @classmethod
    def _positions_have_columns(cls, positions: pl.DataFrame) -> pl.DataFrame:
        _require_columns(positions, "positions", POSITION_COLUMNS)
        _reject_repeats(positions, "positions", "position_id")
        return positions


def _require_columns(frame: pl.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}; has {frame.columns}")


def _reject_repeats(frame: pl.DataFrame, name: str, key: str) -> None:
    duplicated = frame.filter(pl.col(key).is_duplicated())[key].unique().sort()
    if len(duplicated):
        raise ValueError(f"{name} has duplicate {key} values {[str(value) for value in duplicated]}")


def evaluate_alerts(inputs: AlertInputs) -> pl.DataFrame:
    """Return the currently active conditions, one row per (rule, subject).

    Columns follow :data:`ACTIVE_SCHEMA`; rows are ordered by :data:`RULES`, then subject.
    """
    rows = [*_ltv_alerts(inputs), *_selloff_alerts(inputs), *_hedge_alerts(inputs), *_data_alerts(inputs)]
    rule_order = {rule: i for i, rule in enumerate(RULES)}
    rows.sort(key=lambda row: (rule_order[row["rule"]], row["subject"]))
    return pl.DataFrame(rows, schema=ACTIVE_SCHEMA, orient="row") if rows else pl.DataFrame(schema=ACTIVE_SCHEMA)


@dataclass(frozen=True)
class SelloffWindow:
    """A selloff in progress: from the lookback high (``start``) to the latest close (``end``).

    ``drawdown`` = close / peak_close - 1 and ``one_day_change`` = close / previous close - 1
    are negative in a fall (``one_day_change`` is None with a single close); ``trading_days``
    counts the closes the high was taken over (fewer than the lookback early in the data);
    ``triggered_by`` names the tests that fired, of ``("drawdown", "one_day_fall")``.
    """

    start: date
    end: date
    peak_close: float
    close: float
    drawdown: float
    one_day_change: float | None
    trading_days: int
    triggered_by: tuple[str, ...]


def selloff_window(
    closes: pl.DataFrame, lookback_days: int, drawdown: float, one_day_fall: float
) -> SelloffWindow | None:
    """The selloff ending at the last row of ``closes`` (columns date, close), or None when calm.

    The high is the largest close of the last ``lookback_days`` rows (trading days, not
    calendar days; the most recent date when the high repeats); the thresholds are
    positive fractions and inclusive (see the module docstring).
    """
    if lookback_days < 1:
        raise ValueError(f"lookback_days must be >= 1, got {lookback_days}")
    ordered = closes.select(CLOSE_COLUMNS).sort("date")
    if ordered.is_empty():
        return None
    lookback = ordered.tail(lookback_days)
    peak_date, peak_close = lookback.filter(pl.col("close") == pl.col("close").max()).row(-1)
    end, close = ordered.row(-1)
    change_from_peak = close / peak_close - 1
    one_day_change = close / ordered["close"][-2] - 1 if ordered.height > 1 else None
    tests = (("drawdown", change_from_peak, drawdown), ("one_day_fall", one_day_change, one_day_fall))
    triggered_by = tuple(
        name for name, change, fall in tests if change is not None and change <= -fall + THRESHOLD_TOLERANCE
    )
    if not triggered_by:
        return None
    return SelloffWindow(start=peak_date, end=end, peak_close=peak_close, close=close, drawdown=change_from_peak,
                         one_day_change=one_day_change, trading_days=lookback.height, triggered_by=triggered_by)


def headline(message: str) -> str:
    """The short lead of an alert message (the part before the details)."""
    return message.split(HEADLINE_SEPARATOR, 1)[0]


def _alert(rule: str, subject: str, level: Level, message: str, values: dict[str, Any]) -> dict[str, str]:
    return {
        "rule": rule,
        "subject": subject,
        "level": level,
        "message": message,
        "values": json.dumps(values, sort_keys=True, allow_nan=False),
    }


def _ltv_alerts(inputs: AlertInputs) -> list[dict[str, str]]:
    t = inputs.thresholds
    checks: list[tuple[str, float, str, Level]] = [
        ("ltv_warn", t.ltv_warn, "warning level", "warning"),
        ("ltv_critical", t.ltv_critical, "margin call", "critical"),
        ("ltv_liquidation", t.ltv_liquidation, "liquidation", "critical"),
    ]
    alerts = []
    for rule, threshold, label, level in checks:
        if inputs.ltv < threshold:
            continue
        message = (
            f"LTV {inputs.ltv:.1%} >= {threshold:.1%} {label} ({inputs.as_of.isoformat()})"
            f"{HEADLINE_SEPARATOR}GLD close {inputs.gld_close:,.2f}, "
            f"margin-call price {inputs.margin_call_price:,.2f}, "
            f"cure amount {inputs.cure_amount:,.2f}{_hedged_details(inputs)}"
        )
        values = {
            "ltv": inputs.ltv,
            "threshold": threshold,
            "date": inputs.as_of.isoformat(),
            "gld_close": inputs.gld_close,
            "margin_call_price": inputs.margin_call_price,
            "cure_amount": inputs.cure_amount,
        }
        if inputs.hedge_value > 0:
            values |= {"hedge_value": inputs.hedge_value, "hedged_ltv": inputs.hedged_ltv,
                       "hedged_margin_call_price": inputs.hedged_margin_call_price}
        alerts.append(_alert(rule, PORTFOLIO_SUBJECT, level, message, values))
    return alerts


def _hedged_details(inputs: AlertInputs) -> str:
    """The hedged view appended to an LTV alert ("" without hedges)."""
    if inputs.hedge_value <= 0:
        return ""
    hedged_ltv = "n/a" if inputs.hedged_ltv is None else f"{inputs.hedged_ltv:.1%}"
    call = ("covered by the hedges" if inputs.hedged_margin_call_price is None
            else f"{inputs.hedged_margin_call_price:,.2f}")
    return f"; with hedges worth {inputs.hedge_value:,.2f}: LTV {hedged_ltv}, margin-call price {call}"


def _selloff_alerts(inputs: AlertInputs) -> list[dict[str, str]]:
    t = inputs.thresholds
    closes = inputs.closes.filter(pl.col("date") <= inputs.as_of)
    window = selloff_window(closes, t.selloff_lookback_days, t.selloff_drawdown, t.selloff_one_day_fall)
    if window is None:
        return []
    symbol, end = inputs.collateral_symbol, window.end.isoformat()
    one_day = "n/a" if window.one_day_change is None else f"{window.one_day_change:.1%}"
    lead = (f"{window.drawdown:.1%} from its {window.trading_days}-day high" if "drawdown" in window.triggered_by
            else f"{one_day} in one day")
    message = (
        f"{symbol} selloff: {lead} ({end}){HEADLINE_SEPARATOR}"
        f"peak close {window.peak_close:,.2f} on {window.start.isoformat()}, close {window.close:,.2f} on {end}, "
        f"{window.drawdown:.1%} from the peak, one-day change {one_day}; fires at -{t.selloff_drawdown:.1%} "
        f"from the {t.selloff_lookback_days}-day high or -{t.selloff_one_day_fall:.1%} in one day"
    )
    values = {
        "date": end,
        "drawdown": window.drawdown,
        "one_day_change": window.one_day_change,
        "peak_date": window.start.isoformat(),
        "peak_close": window.peak_close,
        "close": window.close,
        "window_start": window.start.isoformat(),
        "window_end": end,
        "trading_days": window.trading_days,
        "triggered_by": list(window.triggered_by),
        "thresholds": {"drawdown": t.selloff_drawdown, "lookback_days": t.selloff_lookback_days,
                       "one_day_fall": t.selloff_one_day_fall},
    }
    return [_alert(SELLOFF_RULE, symbol, "warning", message, values)]


def _hedge_alerts(inputs: AlertInputs) -> list[dict[str, str]]:
    max_days = inputs.thresholds.hedge_expiry_days
    as_of = inputs.as_of.isoformat()
    alerts = []
    for position in inputs.positions.select(POSITION_COLUMNS).iter_rows(named=True):
        position_id, dte = str(position["position_id"]), position["dte"]
        if dte is not None and not (isinstance(dte, float) and math.isnan(dte)) and 0 < dte <= max_days:
            message = (
                f"Hedge {position_id} expires in {dte} day(s) (<= {max_days}) ({as_of})"
                f"{HEADLINE_SEPARATOR}roll or close it before expiry"
            )
            values = {"position_id": position_id, "dte": dte, "max_days": max_days, "date": as_of}
            alerts.append(_alert("hedge_expiring", position_id, "warning", message, values))

        code = (position["triage"] or "").strip().upper()
        if code in TRIAGE_CODES_THAT_ALERT:
            message = (
                f"Hedge {position_id} triage {code} ({as_of})"
                f"{HEADLINE_SEPARATOR}fired by triage rule {position['triage_rule']}"
            )
            values = {"position_id": position_id, "triage": code, "triage_rule": position["triage_rule"], "date": as_of}
            alerts.append(_alert("hedge_triage", position_id, "info", message, values))
    return alerts


def _data_alerts(inputs: AlertInputs) -> list[dict[str, str]]:
    as_of = inputs.as_of.isoformat()
    alerts = []
    for source, status in sorted(inputs.data_status.items()):
        if status.strip().lower() == HEALTHY_DATA_STATUS:
            continue
        message = (
            f"Input data {source} is not ok ({as_of}){HEADLINE_SEPARATOR}status: {status}; "
            "figures that depend on it may be out of date"
        )
        alerts.append(_alert("data_stale", source, "warning", message, {"source": source, "status": status, "date": as_of}))
    return alerts
