"""Alert history: one row per state change of a (rule, subject) condition.

The log is what the Dagster layer persists as ``analytics.alerts``. An *episode* is the
span during which a (rule, subject) stays active. It is logged as an ``enter`` row
(written when the condition appears, its ``last_seen``/``message``/``values`` refreshed
while it stays active) and, once it clears, a ``leave`` row. A leave row has the same
``first_seen`` as its enter row (that is how the two are paired, independent of row
order) and ``last_seen`` = the time the clearance was observed.

Cooldown: when a (rule, subject) re-enters less than ``cooldown`` after its last leave,
the new enter row is still logged but with delivery status ``suppressed``, and so is
the leave row that later closes that episode (the user was never told it started, so
telling them it ended would be noise). ``cooldown=timedelta(0)`` turns this off.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Final

import polars as pl

from pipeline.alerts.rules import ACTIVE_SCHEMA

UTC_TIME: Final = pl.Datetime("us", "UTC")

ALERT_LOG_SCHEMA: Final = pl.Schema(
    {
        "alert_id": pl.String,
        "rule": pl.String,
        "subject": pl.String,
        "level": pl.String,
        "event": pl.String,
        "message": pl.String,
        "values": pl.String,
        "first_seen": UTC_TIME,
        "last_seen": UTC_TIME,
        "delivery_status": pl.String,
        "attempts": pl.Int64,
        "last_attempt_at": UTC_TIME,
        "last_error": pl.String,
        "sent_at": UTC_TIME,
    }
)
"""Exact schema of the alert log (``analytics.alerts``)."""

EVENTS: Final = ("enter", "leave")
DELIVERY_STATUSES: Final = ("pending", "sent", "suppressed", "disabled")
"""``disabled`` is reserved for callers that want to retire rows; nothing here sets it."""

KEY: Final = ["rule", "subject"]
EPISODE: Final = ["rule", "subject", "first_seen"]


def empty_alert_log() -> pl.DataFrame:
    """An alert log with no rows and the exact :data:`ALERT_LOG_SCHEMA`."""
    return pl.DataFrame(schema=ALERT_LOG_SCHEMA)


def conform_alert_log(log: pl.DataFrame) -> pl.DataFrame:
    """Return ``log`` with exactly the log columns and dtypes, or raise naming what is wrong.

    Accepts naive datetimes (read back from a store without time zone) as UTC.
    """
    missing = [name for name in ALERT_LOG_SCHEMA if name not in log.columns]
    if missing:
        raise ValueError(f"alert log is missing columns {missing}; has {log.columns}")
    casts = []
    for name, dtype in ALERT_LOG_SCHEMA.items():
        column = pl.col(name)
        if dtype == UTC_TIME and isinstance(log.schema[name], pl.Datetime) and log.schema[name].time_zone is None:
            column = column.dt.replace_time_zone("UTC")
        casts.append(column.cast(dtype))
    conformed = log.select(casts)
    _check_allowed(conformed, "event", EVENTS)
    _check_allowed(conformed, "delivery_status", DELIVERY_STATUSES)
    return conformed


def update_alert_log(
    log: pl.DataFrame,
    active: pl.DataFrame,
    now: datetime,
    cooldown: timedelta = timedelta(0),
) -> pl.DataFrame:
    """Fold the current condition set into the alert history and return the new history.

    - active and no open episode -> new ``enter`` row (``pending``, or ``suppressed``
      inside the cooldown);
    - active with an open episode -> that enter row's ``last_seen``, ``message`` and
      ``values`` are refreshed, no new row;
    - open episode no longer active -> new ``leave`` row.

    Pure and deterministic: existing rows keep their order and are never dropped; new
    rows are appended sorted by rule and subject.
    """
    now_utc = to_utc(now, "now")
    if cooldown < timedelta(0):
        raise ValueError(f"cooldown must be >= 0, got {cooldown}")
    log = conform_alert_log(log)
    active = _conform_active(active)

    enters = log.filter(pl.col("event") == "enter")
    leaves = log.filter(pl.col("event") == "leave")
    open_enters = enters.join(leaves.select(EPISODE), on=EPISODE, how="anti")
    doubly_open = open_enters.filter(pl.struct(KEY).is_duplicated())
    if doubly_open.height:
        raise ValueError(f"alert log has more than one open episode for {doubly_open.select(KEY).unique().rows()}")

    now_literal = pl.lit(now_utc, dtype=UTC_TIME)

    refreshed = (
        open_enters.select("alert_id", *KEY)
        .join(active, on=KEY, how="inner")
        .select("alert_id", "message", "values", now_literal.alias("last_seen"))
    )
    updated_log = log.update(refreshed, on="alert_id", how="left")

    leave_rows = (
        open_enters.join(active.select(KEY), on=KEY, how="anti")
        .with_columns(
            alert_id=pl.col("alert_id") + "|leave",
            event=pl.lit("leave"),
            message=pl.format("Cleared: {} for {} is no longer active (was: {})", "rule", "subject", "message"),
            last_seen=now_literal,
            delivery_status=pl.when(pl.col("delivery_status") == "suppressed")
            .then(pl.lit("suppressed"))
            .otherwise(pl.lit("pending")),
        )
        .pipe(_fresh_delivery_columns)
    )

    last_leave = leaves.group_by(KEY).agg(pl.col("last_seen").max().alias("last_leave"))
    enter_rows = (
        active.join(open_enters.select(KEY), on=KEY, how="anti")
        .join(last_leave, on=KEY, how="left")
        .with_columns(
            alert_id=pl.format("{}|{}|{}", "rule", "subject", pl.lit(now_utc.isoformat())),
            event=pl.lit("enter"),
            first_seen=now_literal,
            last_seen=now_literal,
            delivery_status=pl.when(
                pl.col("last_leave").is_not_null() & ((now_literal - pl.col("last_leave")) < cooldown)
            )
            .then(pl.lit("suppressed"))
            .otherwise(pl.lit("pending")),
        )
        .pipe(_fresh_delivery_columns)
    )

    clashes = enter_rows.join(log, on="alert_id", how="semi")
    if clashes.height:
        raise ValueError(
            f"now={now_utc.isoformat()} would reuse alert_id(s) {clashes['alert_id'].to_list()}; "
            "the clock must advance between runs that change alert state"
        )

    new_rows = pl.concat([leave_rows, enter_rows], how="vertical").sort(KEY)
    return pl.concat([updated_log, new_rows], how="vertical")


def _fresh_delivery_columns(rows: pl.DataFrame) -> pl.DataFrame:
    """Give newly logged rows untouched delivery bookkeeping and the log's column order."""
    return rows.with_columns(
        attempts=pl.lit(0, dtype=pl.Int64),
        last_attempt_at=pl.lit(None, dtype=UTC_TIME),
        last_error=pl.lit(None, dtype=pl.String),
        sent_at=pl.lit(None, dtype=UTC_TIME),
    ).select([pl.col(name).cast(dtype) for name, dtype in ALERT_LOG_SCHEMA.items()])


def _conform_active(active: pl.DataFrame) -> pl.DataFrame:
    missing = [name for name in ACTIVE_SCHEMA if name not in active.columns]
    if missing:
        raise ValueError(f"active alerts are missing columns {missing}; has {active.columns}")
    active = active.select([pl.col(name).cast(dtype) for name, dtype in ACTIVE_SCHEMA.items()])
    duplicated = active.filter(pl.struct(KEY).is_duplicated())
    if duplicated.height:
        raise ValueError(f"active alerts repeat (rule, subject) {duplicated.select(KEY).unique().rows()}")
    return active


def _check_allowed(frame: pl.DataFrame, column: str, allowed: tuple[str, ...]) -> None:
    bad = frame.filter(~pl.col(column).is_in(allowed) | pl.col(column).is_null())[column].unique().to_list()
    if bad:
        raise ValueError(f"alert log column {column} has values {bad}; allowed {list(allowed)}")


def to_utc(moment: datetime, name: str) -> datetime:
    """`moment` in UTC; raises naming `name` when it is naive (a naive time has no place in the log)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(timezone.utc)
