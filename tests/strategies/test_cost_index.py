"""Protection cost index: hand-checked picks, and the vectorised index equal to the row-loop oracle
(pipeline/strategies/reference.py) on real data."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

import duckdb
import polars as pl
import pytest

from pipeline.market import embedded
from pipeline.methodology import METHODOLOGY_VERSION
from pipeline.pricing.synthetic import synthetic_chain
from pipeline.strategies.cost_index import PROTECTION_COST_SCHEMA, protection_cost_index
from pipeline.strategies.reference import protection_cost_index_loop
from pipeline.warehouse import DEFAULT_WAREHOUSE, replace_rows
from tests.strategies.conftest import declared_schema

VALUATION_SCHEMA = pl.Schema({
    "snapshot_date": pl.Date, "expiry": pl.Date, "option_right": pl.String, "strike": pl.Float64,
    "source": pl.String, "underlying_price": pl.Float64, "days_to_expiry": pl.Int32, "bid": pl.Float64,
    "ask": pl.Float64, "mid": pl.Float64, "flag_crossed": pl.Boolean, "iv_reason": pl.Int8,
})
"""The `analytics.option_valuations` columns the index reads."""


def _synthetic(rows: list[tuple[date, int, float, str, float, float]]) -> pl.DataFrame:
    """(date, tenor_months, moneyness, option_right, spot, price) as synthetic_chain_daily rows."""
    return pl.DataFrame(
        [(day, months, m, right, spot, spot * m, price) for day, months, m, right, spot, price in rows],
        schema={"date": pl.Date, "tenor_months": pl.Int8, "moneyness": pl.Float64, "option_right": pl.String,
                "spot": pl.Float64, "strike": pl.Float64, "price": pl.Float64},
        orient="row",
    )


def _quote(day: date, dte: int, right: str, strike: float, bid: float, ask: float | None, *,
           spot: float = 400.0, source: str = "yfinance", crossed: bool = False, iv_reason: int = 0) -> tuple:
    """One option_valuations row; mid = (bid + ask) / 2, null without an ask."""
    mid = None if ask is None else (bid + ask) / 2
    return (day, day + timedelta(days=dte), right, strike, source, spot, dte, bid, ask, mid, crossed, iv_reason)


def _valuations(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=VALUATION_SCHEMA, orient="row")


OCT5, OCT6, OCT7, OCT9 = date(2026, 10, 5), date(2026, 10, 6), date(2026, 10, 7), date(2026, 10, 9)
SYNTHETIC = _synthetic([
    (OCT5, 3, 0.90, "P", 380.0, 5.20),
    (OCT5, 3, 0.90, "C", 380.0, 40.00),  # the call, the 95 % put and the 6-month put are not the index
    (OCT5, 3, 0.95, "P", 380.0, 8.00),
    (OCT5, 6, 0.90, "P", 380.0, 9.00),
    (OCT6, 3, 0.90, "P", 400.0, 5.60),
    (OCT7, 3, 0.90, "P", 410.0, 5.74),
])
VALUATIONS = _valuations([
    # 10-05, a real chain without an eligible put: the synthetic row stays
    _quote(OCT5, 91, "P", 342.0, 0.0, 0.50, spot=380.0),                 # zero bid
    _quote(OCT5, 91, "P", 340.0, 5.50, 5.00, spot=380.0, crossed=True),  # crossed
    _quote(OCT5, 91, "P", 345.0, 5.40, 5.60, spot=380.0, iv_reason=3),   # IV failed
    _quote(OCT5, 91, "P", 343.0, 5.10, None, spot=380.0),                # no ask, no mid
    _quote(OCT5, 91, "P", 304.0, 1.00, 1.20, spot=380.0),                # 80 %: outside the strike window
    _quote(OCT5, 150, "P", 342.0, 7.00, 7.40, spot=380.0),               # 150 days: outside 60..120
    # 10-06, spot 400: 0.9 x 400 = 360, strike window 348 .. 372
    _quote(OCT6, 91, "P", 360.0, 0.0, 0.40),                             # zero bid
    _quote(OCT6, 91, "P", 361.0, 6.00, 5.80, crossed=True),
    _quote(OCT6, 91, "P", 359.0, 5.40, 5.60, iv_reason=2),
    _quote(OCT6, 91, "P", 380.0, 9.00, 9.40),                            # 95 %: outside the strike window
    _quote(OCT6, 91, "C", 360.0, 44.0, 45.0),                            # a call
    _quote(OCT6, 84, "P", 350.0, 3.40, 3.60),
    _quote(OCT6, 84, "P", 355.0, 4.10, 4.30),
    _quote(OCT6, 84, "P", 365.0, 6.00, 6.40),
    _quote(OCT6, 98, "P", 360.0, 5.90, 6.10),
    _quote(OCT6, 40, "P", 360.0, 3.00, 3.20),                            # 40 days: outside 60..120
    # 10-07, a model chain: generated, never a quote, so ignored
    _quote(OCT7, 91, "P", 369.0, 9.90, 10.10, spot=410.0, source="model"),
    # 10-09 is not a synthetic day: not indexed
    _quote(OCT9, 91, "P", 369.0, 5.60, 5.80, spot=410.0),
])


def test_hand_picked_index() -> None:
    """Synthetic days: premium / spot, annualised x 365 / 91 (3 months stored as 91 days).

        10-05  5.20 / 380 = 0.01368421;  x 365 / 91 = 0.05488722   (its chain has no eligible put)
        10-07  5.74 / 410 = 0.01400000;  x 365 / 91 = 0.05615385   (a model chain is ignored)

    10-06, yfinance chain, spot 400. The 91-day expiry (gap 0) has no eligible put: zero bid,
    crossed, failed IV, and the usable 380 put is 95 % (> 0.93). 84 and 98 days are equally near
    91 (gap 7): the earlier, 84 days (2026-12-29), wins. On it 355 and 365 are both 5 from 360:
    the lower, 355, wins (350 is 10 away).

        premium = mid = (4.10 + 4.30) / 2 = 4.20;  moneyness = 355 / 400 = 0.8875
        cost = 4.20 / 400 = 0.0105;  annualised = 0.0105 x 365 / 84 = 0.045625
    """
    out = protection_cost_index(SYNTHETIC, VALUATIONS)
    assert out.select("date", "source", "expiry", "tenor_days", "methodology_version").rows() == [
        (OCT5, "synthetic", None, 91, METHODOLOGY_VERSION),
        (OCT6, "snapshot:yfinance", date(2026, 12, 29), 84, METHODOLOGY_VERSION),
        (OCT7, "synthetic", None, 91, METHODOLOGY_VERSION),
    ]
    assert out["spot"].to_list() == [380.0, 400.0, 410.0]
    assert out["strike"].to_list() == pytest.approx([342.0, 355.0, 369.0])
    assert out["moneyness"].to_list() == pytest.approx([0.90, 0.8875, 0.90])
    assert out["premium"].to_list() == pytest.approx([5.20, 4.20, 5.74])
    assert out["cost_pct_collateral"].to_list() == pytest.approx([0.01368421, 0.0105, 0.014], rel=1e-6)
    assert out["cost_annualised_pct"].to_list() == pytest.approx([0.05488722, 0.045625, 0.05615385], rel=1e-6)
    assert protection_cost_index_loop(SYNTHETIC, VALUATIONS).equals(out)


def test_no_snapshots_is_all_synthetic() -> None:
    out = protection_cost_index(SYNTHETIC, VALUATIONS.clear())
    assert out["source"].to_list() == ["synthetic"] * 3 and out["expiry"].null_count() == 3
    assert out["cost_pct_collateral"].to_list() == pytest.approx([5.20 / 380, 5.60 / 400, 5.74 / 410])


def test_index_fits_the_declared_table(scratch: duckdb.DuckDBPyConnection) -> None:
    out = protection_cost_index(SYNTHETIC, VALUATIONS)
    assert out.schema == PROTECTION_COST_SCHEMA == declared_schema(scratch, "protection_cost_index")
    assert replace_rows(scratch, "analytics.protection_cost_index", out) == 3


def test_equals_the_loop_on_embedded_history() -> None:
    """Synthetic chain of 2008-09-01 .. 2008-12-31 from the embedded GLD, GVZ and T-bill history;
    two days get a 'yfinance' chain made from their own grid (bid/ask = price -/+ 3 %, days to expiry
    = t x 365, so the 3-month 90 % put is listed), one day a 'model' chain that must be ignored."""
    fetched = datetime(2026, 10, 7, tzinfo=timezone.utc)
    window = pl.col("date").is_between(date(2008, 8, 1), date(2008, 12, 31))
    chain = synthetic_chain(embedded.load_prices("GLD", fetched).filter(window),
                            embedded.load_gvz(fetched).filter(window),
                            embedded.load_rates(fetched).filter(pl.col("date").is_between(date(2008, 1, 1),
                                                                                           date(2008, 12, 31))))
    chain = chain.filter(pl.col("date") >= date(2008, 9, 1))
    listed = {date(2008, 10, 10): "yfinance", date(2008, 11, 3): "yfinance", date(2008, 12, 1): "model"}
    valuations = chain.filter(pl.col("date").is_in(list(listed))).select(
        snapshot_date="date",
        expiry=pl.col("date") + pl.duration(days=(pl.col("t_years") * 365).round(0).cast(pl.Int64)),
        option_right="option_right",
        strike="strike",
        source=pl.col("date").replace_strict(listed, return_dtype=pl.String),
        underlying_price="spot",
        days_to_expiry=(pl.col("t_years") * 365).round(0).cast(pl.Int32),
        bid=pl.col("price") * 0.97,
        ask=pl.col("price") * 1.03,
        mid=pl.col("price"),
        flag_crossed=pl.lit(False),
        iv_reason=pl.lit(0, dtype=pl.Int8),
    )
    out = protection_cost_index(chain, valuations)
    assert out.height == chain["date"].n_unique()
    snapshot_days = out.filter(pl.col("source") == "snapshot:yfinance")
    assert snapshot_days["date"].to_list() == [date(2008, 10, 10), date(2008, 11, 3)]
    assert snapshot_days["tenor_days"].to_list() == [91, 91]
    assert out.equals(protection_cost_index_loop(chain, valuations))


def test_equals_the_loop_on_the_warehouse() -> None:
    """The stored 22-year synthetic table and valuations, read-only; also times the index."""
    if not DEFAULT_WAREHOUSE.exists():
        pytest.skip(f"no warehouse at {DEFAULT_WAREHOUSE}")
    try:
        conn = duckdb.connect(str(DEFAULT_WAREHOUSE), read_only=True)
    except duckdb.IOException as error:  # held by a running pipeline
        pytest.skip(f"warehouse not readable: {error}")
    try:
        synthetic = conn.sql("SELECT * FROM analytics.synthetic_chain_daily").pl()
        valuations = conn.sql("SELECT * FROM analytics.option_valuations").pl()
    finally:
        conn.close()
    started = time.perf_counter()
    out = protection_cost_index(synthetic, valuations)
    elapsed = time.perf_counter() - started
    assert out.height == synthetic["date"].n_unique()
    assert elapsed < 5.0
    assert out.equals(protection_cost_index_loop(synthetic, valuations))
