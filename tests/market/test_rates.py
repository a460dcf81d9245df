"""T-bill discount quotes -> continuously compounded rates, checked by hand."""

import math

import polars as pl
import pytest

from pipeline.market.embedded import load_rates
from pipeline.market.rates import discount_to_continuous


def test_discount_to_continuous_by_hand():
    """d = 5.00%: price = 1 - 0.05*91/360 = 0.98736111; r = -ln(0.98736111)*365/91 = 0.0510175."""
    got = pl.select(discount_to_continuous(pl.lit(5.0))).item()
    assert got == pytest.approx(-math.log(1 - 0.05 * 91 / 360) * 365 / 91, rel=1e-15)
    assert got == pytest.approx(0.0510175, abs=5e-8)


def test_embedded_rates_keep_the_quote_and_convert_it():
    from datetime import datetime, timezone

    rates = load_rates(datetime(2026, 1, 1, tzinfo=timezone.utc))
    row = rates.filter(pl.col("date") == pl.date(2026, 8, 12)).row(0, named=True)
    d = row["quoted_discount_pct"] / 100
    assert row["tenor"] == "3m"
    assert row["rate"] == pytest.approx(-math.log(1 - d * 91 / 360) * 365 / 91, rel=1e-14)
    assert row["rate"] > d  # continuous Act/365 rate exceeds the Act/360 discount rate
