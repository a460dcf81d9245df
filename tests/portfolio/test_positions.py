"""Held hedges: triage codes in priority order, marks and net Greeks against the kernel called directly.

One constructed market day, 2026-07-01: GLD 370.00, ATM vol 25 %, rate 3.7 %. Intrinsic values:
put 400 -> 30.00, put 380 -> 10.00, put 300 -> 0, call 400 -> 0.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from pipeline.config import parse_portfolio
from pipeline.portfolio.positions import hedge_totals_daily, positions_daily
from pipeline.pricing.api import GLD_EXPENSE_RATIO_Q, american_greeks
from pipeline.pricing.skew import skew_vol

DAY = date(2026, 7, 1)
SPOT, ATM, RATE = 370.0, 0.25, 0.037
SURFACE = pl.DataFrame({"date": [DAY], "close": [SPOT], "atm_vol": [ATM], "atm_vol_source": ["gvz"], "rate": [RATE]})
ENTRY = date(2026, 6, 1)


def _hedge(position_id: str, right: str, strike: float, expiry: date, premium: float, contracts: int = 2) -> dict:
    return {"id": position_id, "right": right, "strike": strike, "expiry": expiry, "contracts": contracts,
            "entry_date": ENTRY, "premium": premium}


HEDGES = [
    _hedge("expired-itm", "put", 400.0, DAY, 5.0),                 # dte 0, ITM, worth 6x premium
    _hedge("roll-itm", "put", 400.0, date(2026, 7, 21), 5.0),     # dte 20 < 21, ITM, worth >= 6x premium
    _hedge("harvest-itm", "put", 400.0, date(2026, 12, 18), 15.0),  # dte 170, mark >= 30 = 2 x 15
    _hedge("protecting", "put", 380.0, date(2026, 12, 18), 30.0),   # ITM by 10, mark < 60
    _hedge("idle-otm-put", "put", 300.0, date(2026, 7, 22), 5.0),   # dte 21: not ROLL; OTM, cheap
    _hedge("idle-otm-call", "call", 400.0, date(2026, 12, 18), 20.0, contracts=3),
]


def _book(harvest_multiple: float = 2.0):  # noqa: ANN202
    return parse_portfolio({"start_date": date(2026, 1, 2), "collateral": {"shares": 1000.0},
                            "loan": {"amount": 275000.0}, "triage": {"harvest_multiple": harvest_multiple},
                            "hedges": HEDGES})


def _kernel(hedge: dict) -> dict[str, float]:
    """The kernel called directly for one hedge: per-share price and Greeks (QuantLib units)."""
    t = (hedge["expiry"] - DAY).days / 365.0
    vol = float(skew_vol(ATM, hedge["strike"] / SPOT, t))
    g = american_greeks(hedge["right"] == "call", SPOT, hedge["strike"], t, RATE, GLD_EXPENSE_RATIO_Q, vol)
    return {name: float(np.asarray(getattr(g, name))) for name in ("price", "delta", "gamma", "theta", "vega")}


@pytest.fixture(scope="module")
def positions() -> pl.DataFrame:
    return positions_daily(_book(), SURFACE)


def test_triage_codes_in_priority_order(positions: pl.DataFrame) -> None:
    codes = dict(positions.select("position_id", "triage").rows())
    assert codes == {"expired-itm": "EXPIRED", "roll-itm": "ROLL", "harvest-itm": "HARVEST",
                     "protecting": "PROTECTING", "idle-otm-put": "IDLE", "idle-otm-call": "IDLE"}
    rules = dict(positions.select("position_id", "triage_rule").rows())
    assert rules["expired-itm"] == "dte 0 <= 0"
    assert rules["roll-itm"] == "dte 20 < 21"
    assert rules["harvest-itm"].startswith("mark ") and rules["harvest-itm"].endswith(">= 2.0 x premium 15.0")
    assert rules["protecting"] == "in the money: intrinsic 10.0 > 0"
    assert rules["idle-otm-put"] == "no rule fired"


def test_preconditions_of_the_constructed_cases() -> None:
    """The kernel's own marks put each case where its name says (else the test proves nothing)."""
    assert 30.0 <= _kernel(HEDGES[2])["price"] < 45.0      # HARVEST at 2x 15, not at 3x
    assert _kernel(HEDGES[3])["price"] < 60.0               # PROTECTING: below 2 x 30
    assert _kernel(HEDGES[4])["price"] < 10.0 and _kernel(HEDGES[5])["price"] < 40.0  # IDLE: below 2x premium


def test_harvest_multiple_is_configurable() -> None:
    codes = dict(positions_daily(_book(harvest_multiple=3.0), SURFACE).select("position_id", "triage").rows())
    assert codes["harvest-itm"] == "PROTECTING"


def test_marks_pnl_and_expiry_day(positions: pl.DataFrame) -> None:
    """expired-itm: mark = intrinsic 30.00; P&L = (30 - 5) x 100 x 2 = 5,000; delta = -1 x 200 = -200."""
    expired = positions.filter(pl.col("position_id") == "expired-itm").row(0, named=True)
    assert (expired["mark"], expired["mark_source"], expired["pnl"], expired["delta"]) == (30.0, "intrinsic", 5000.0, -200.0)
    assert expired["gamma"] == expired["theta"] == expired["vega"] == 0.0
    harvest = positions.filter(pl.col("position_id") == "harvest-itm").row(0, named=True)
    kernel = _kernel(HEDGES[2])
    assert harvest["mark_source"] == "kernel"
    assert harvest["mark"] == pytest.approx(kernel["price"], rel=1e-12)
    assert harvest["pnl"] == pytest.approx((kernel["price"] - 15.0) * 200, rel=1e-12)
    assert harvest["intrinsic"] == 30.0 and harvest["dte"] == 170


def test_net_greeks_equal_the_sum_of_the_kernels_greeks(positions: pl.DataFrame) -> None:
    """Per position: Greek x 100 x contracts (theta / 365 per day, vega / 100 per vol point); summed."""
    expected = {"delta": 0.0, "gamma": 0.0, "theta": 0.0, "vega": 0.0, "value": 0.0}
    for hedge in HEDGES:
        size = 100 * hedge["contracts"]
        if hedge["expiry"] == DAY:
            expected["delta"] += -1.0 * size
            expected["value"] += 30.0 * size
            continue
        k = _kernel(hedge)
        expected["delta"] += k["delta"] * size
        expected["gamma"] += k["gamma"] * size
        expected["theta"] += k["theta"] / 365.0 * size
        expected["vega"] += k["vega"] / 100.0 * size
        expected["value"] += k["price"] * size
    totals = hedge_totals_daily(positions).row(0, named=True)
    for greek in ("delta", "gamma", "theta", "vega"):
        assert totals[f"hedge_{greek}"] == pytest.approx(expected[greek], rel=1e-9, abs=1e-9), greek
    assert totals["hedge_value"] == pytest.approx(expected["value"], rel=1e-12)
    assert totals["hedge_mark_source"] == "mixed"  # intrinsic + kernel


def test_a_chain_valuation_is_the_mark_when_it_quotes_the_contract() -> None:
    valuations = pl.DataFrame({
        "snapshot_date": [DAY], "expiry": [date(2026, 12, 18)], "option_right": ["P"], "strike": [380.0],
        "mid": [27.5], "delta": [-0.45], "gamma": [0.004], "theta": [-18.25], "vega": [95.0], "source": ["model"],
    })
    quoted = positions_daily(_book(), SURFACE, valuations).filter(pl.col("position_id") == "protecting").row(0, named=True)
    assert (quoted["mark"], quoted["mark_source"]) == (27.5, "chain_model")
    assert quoted["delta"] == pytest.approx(-0.45 * 200)
    assert quoted["theta"] == pytest.approx(-18.25 / 365 * 200)
    assert quoted["vega"] == pytest.approx(95.0 / 100 * 200)


def test_rows_run_from_entry_to_expiry_only() -> None:
    days = [date(2026, 5, 29), ENTRY, date(2026, 7, 21), date(2026, 7, 22)]
    surface = pl.DataFrame({"date": days, "close": [SPOT] * 4, "atm_vol": [ATM] * 4,
                            "atm_vol_source": ["gvz"] * 4, "rate": [RATE] * 4})
    rows = positions_daily(_book(), surface).filter(pl.col("position_id") == "roll-itm")
    assert rows["date"].to_list() == [ENTRY, date(2026, 7, 21)]
    assert rows["triage"].to_list() == ["HARVEST", "EXPIRED"]  # on entry: worth >= 30 = 6x premium
