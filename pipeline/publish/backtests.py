"""The Backtests page, a placeholder until the backtest engine exists.

The engine (pipeline/backtest/, not built yet) will write its tables to the warehouse;
its issue adds them to `DashboardData` and fills this context from them. Until then the page says
that the engine has not run, from the same context function the finished page will use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.publish.data import DashboardData


@dataclass(frozen=True)
class BacktestsContext:
    """What the Backtests page shows."""

    has_results: bool
    """False until the backtest engine has written results."""


def build_backtests_context(data: DashboardData) -> BacktestsContext:
    """No backtest tables exist yet, so there is nothing to show."""
    return BacktestsContext(has_results=False)
