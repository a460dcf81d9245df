"""The vectorised strategy day against the one-option-at-a-time reference loop.

Both price the same picked legs; the reference reprices each leg with a scalar kernel call,
solves each margin-call price with its own bisection and ranks with a Python sort, so agreement
to 1e-9 says the frame plumbing (joins, groupings, shocks, horizons) is right.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl
import pytest

from pipeline.config import parse_portfolio
from pipeline.pricing.chain import model_chain, value_quotes
from pipeline.strategies.engine import strategy_day
from pipeline.strategies.reference import strategy_day_loop
from pipeline.strategies.valuation import DayMarket

AS_OF = date(2026, 3, 2)


def _agree(frame: pl.DataFrame, column: str) -> None:
    """Column and its `_loop` twin agree to 1e-9 (null, a covered margin call, only where both are)."""
    ours, loop = frame[column], frame[f"{column}_loop"]
    assert (ours.is_null() == loop.is_null()).all(), column
    assert ours.drop_nulls().to_list() == pytest.approx(loop.drop_nulls().to_list(), rel=1e-9, abs=1e-9), column


@pytest.mark.parametrize(("spot", "vol", "rate", "ltv"), [(380.0, 0.18, 0.04, 0.71), (190.0, 0.32, 0.01, 0.55)])
def test_vectorised_day_equals_the_reference_loop(spot, vol, rate, ltv):
    chain = value_quotes(model_chain(AS_OF, spot, vol, rate, datetime(2026, 3, 2, 22, tzinfo=timezone.utc)),
                         pl.DataFrame({"date": [AS_OF], "rate": [rate]}))
    book = parse_portfolio({"start_date": date(2026, 1, 2), "collateral": {"shares": 1234.0},
                            "loan": {"amount": ltv * 1234 * spot}, "risk_profile": "aggressive"})
    market = DayMarket(AS_OF, spot, vol, rate, "model")
    fast, slow = strategy_day(chain, market, book), strategy_day_loop(chain, market, book)

    columns = ["cost_at_fill", "cost_pct_collateral", "cost_annualised_pct", "hedged_margin_call_price",
               "fall_to_margin_call_hedged_pct", "protection_points"]
    joined = fast.comparison.join(slow["comparison"], on="template_id", suffix="_loop")
    assert joined.height == 8
    for column in columns:
        _agree(joined, column)

    keys = ["template_id", "horizon", "vol_shock", "spot_shock"]
    cells = fast.scenarios.join(slow["scenarios"], on=keys, suffix="_loop")
    assert cells.height == fast.scenarios.height == slow["scenarios"].height == 8 * 3 * 3 * 15
    for column in ("hedge_value", "hedged_ltv", "margin_call_hedged"):
        _agree(cells, column)

    picks = fast.sensitivity.join(slow["sensitivity"], on=["risk_profile", "spot_shock", "vol_shock"], suffix="_loop")
    assert picks.height == 3 * 5 * 7
    assert picks["pick_template_id"].to_list() == picks["pick_template_id_loop"].to_list()
