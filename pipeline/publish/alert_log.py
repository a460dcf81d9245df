"""The alert log as episodes: the Alerts page, and the open alerts on the overview.

`analytics.alerts` holds one row per state change (pipeline/alerts/state.py): an `enter` row when
a (rule, subject) condition starts and a `leave` row, with the same `first_seen`, when it clears.
Pairing the two gives one episode per condition spell, with the delivery of both emails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

import polars as pl

from pipeline.alerts.rules import LEVELS
from pipeline.alerts.state import EPISODE

if TYPE_CHECKING:
    from pipeline.publish.data import DashboardData

DELIVERY_WORDS: Final = {"pending": "pending", "sent": "sent", "suppressed": "not sent (cooldown)",
                         "disabled": "disabled"}


@dataclass(frozen=True)
class Delivery:
    """How the email about one state change went."""

    status: str
    attempts: int
    sent_at: datetime | None
    last_error: str | None

    @property
    def words(self) -> str:
        return DELIVERY_WORDS.get(self.status, self.status)


@dataclass(frozen=True)
class AlertEpisode:
    """One spell of a (rule, subject) condition: when it started, whether and when it cleared."""

    rule: str
    subject: str
    level: str
    message: str
    """The latest wording while it was active (refreshed every run)."""
    started: datetime
    last_seen: datetime
    cleared: datetime | None
    """None while the condition is still active."""
    start_delivery: Delivery
    clear_delivery: Delivery | None

    @property
    def is_open(self) -> bool:
        return self.cleared is None

    @property
    def severity_rank(self) -> int:
        """Position in pipeline.alerts.rules.LEVELS: higher is more severe."""
        return LEVELS.index(self.level) if self.level in LEVELS else -1


def alert_episodes(log: pl.DataFrame) -> tuple[AlertEpisode, ...]:
    """The log's episodes, newest start first, then by rule (an enter row and its leave row, if any)."""
    if log.is_empty():
        return ()
    enters = log.filter(pl.col("event") == "enter")
    leaves = log.filter(pl.col("event") == "leave").select(
        *EPISODE, *(pl.col(name).alias(f"leave_{name}")
                    for name in ("last_seen", "delivery_status", "attempts", "sent_at", "last_error")))
    rows = enters.join(leaves, on=EPISODE, how="left").sort(["first_seen", "rule", "subject"], descending=[True, False, False])
    return tuple(
        AlertEpisode(
            rule=row["rule"], subject=row["subject"], level=row["level"], message=row["message"],
            started=row["first_seen"], last_seen=row["last_seen"], cleared=row["leave_last_seen"],
            start_delivery=Delivery(row["delivery_status"], row["attempts"], row["sent_at"], row["last_error"]),
            clear_delivery=(None if row["leave_delivery_status"] is None else
                            Delivery(row["leave_delivery_status"], row["leave_attempts"], row["leave_sent_at"],
                                     row["leave_last_error"])),
        )
        for row in rows.iter_rows(named=True)
    )


@dataclass(frozen=True)
class AlertsContext:
    """The Alerts page: every episode of the log, newest first."""

    episodes: tuple[AlertEpisode, ...]

    @property
    def open_count(self) -> int:
        return sum(episode.is_open for episode in self.episodes)


def build_alerts_context(data: DashboardData) -> AlertsContext:
    """The alert log of `analytics.alerts`, paired into episodes."""
    return AlertsContext(episodes=alert_episodes(data.alerts))
