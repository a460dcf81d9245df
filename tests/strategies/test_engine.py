"""One engine day: its frames fit the declared tables, and its digest moves only with its inputs."""

from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl
import pytest

from pipeline import warehouse as wh
from pipeline.config import parse_portfolio
from pipeline.pricing.chain import model_chain, value_quotes
from pipeline.strategies.engine import inputs_digest, strategy_day
from pipeline.strategies.valuation import DayMarket
from tests.strategies.conftest import declared_schema

AS_OF = date(2026, 3, 2)
PORTFOLIO = {"start_date": date(2026, 1, 2), "collateral": {"shares": 1000.0}, "loan": {"amount": 270000.0}}


@pytest.fixture(scope="module")
def chain() -> pl.DataFrame:
    quotes = model_chain(AS_OF, 380.0, 0.2, 0.04, datetime(2026, 3, 2, 22, tzinfo=timezone.utc))
    return value_quotes(quotes, pl.DataFrame({"date": [AS_OF], "rate": [0.04]}))


def test_every_table_of_the_day_loads_into_its_declared_table(chain, scratch):
    book = parse_portfolio(PORTFOLIO)
    day = strategy_day(chain, DayMarket(AS_OF, 380.0, 0.2, 0.04, "model"), book)
    for table, frame in day.tables().items():
        name = table.split(".")[1]
        assert dict(frame.schema) == dict(declared_schema(scratch, name)), table
        assert wh.replace_rows(scratch, table, frame, where={"as_of": AS_OF}) == frame.height > 0


def test_the_digest_follows_chain_and_portfolio_but_not_held_hedges(chain):
    book = parse_portfolio(PORTFOLIO)
    base = inputs_digest(chain, book)
    hedged = parse_portfolio({**PORTFOLIO, "hedges": [{"right": "put", "strike": 350.0, "expiry": date(2026, 6, 18),
                                                       "contracts": 1, "entry_date": date(2026, 1, 5), "premium": 5.0}]})
    assert inputs_digest(chain, hedged) == base
    assert inputs_digest(chain, parse_portfolio({**PORTFOLIO, "loan": {"amount": 260000.0}})) != base
    assert inputs_digest(chain, parse_portfolio({**PORTFOLIO, "strategy": {"aggressive_min_fall": 0.2}})) != base
    refetched = chain.with_columns(fetched_at=pl.col("fetched_at") + pl.duration(minutes=5))
    assert inputs_digest(refetched, book) != base
