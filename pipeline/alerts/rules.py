"""Alert rules: turn the latest facts into the set of conditions active right now.

The output is a *condition set*, not a history: one row per (rule, subject) that is
active at ``as_of``. Turning condition sets into a history of state changes is the job
of :mod:`pipeline.alerts.state`.

Message convention: every ``message`` starts with a short headline, followed by
details after :data:`HEADLINE_SEPARATOR`. Email subjects use the headline only.
"""

from __future__ import annotations

import json
import math
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

    @field_validator("positions")
    @classmethod
    def _positions_have_columns(cls, positions: pl.DataFrame) -> pl.DataFrame:
        missing = [c for c in POSITION_COLUMNS if c not in positions.columns]
        if missing:
            raise ValueError(f"positions is missing columns {missing}; has {positions.columns}")
        duplicated = positions.filter(pl.col("position_id").is_duplicated())["position_id"].unique().sort()
        if len(duplicated):
            raise ValueError(f"positions has duplicate position_id values {duplicated.to_list()}")
        return positions


def evaluate_alerts(inputs: AlertInputs) -> pl.DataFrame:
    """Return the currently active conditions, one row per (rule, subject).

    Columns follow :data:`ACTIVE_SCHEMA`; rows are ordered by :data:`RULES`, then subject.
    """
    rows = [*_ltv_alerts(inputs), *_hedge_alerts(inputs), *_data_alerts(inputs)]
    rule_order = {rule: i for i, rule in enumerate(RULES)}
    rows.sort(key=lambda row: (rule_order[row["rule"]], row["subject"]))
    return pl.DataFrame(rows, schema=ACTIVE_SCHEMA, orient="row") if rows else pl.DataFrame(schema=ACTIVE_SCHEMA)


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
