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
        declared = dict(declared_schema(scratch, name))
        if "methodology_version" not in frame.columns:  # then the warehouse stamps it, like run_id
            declared.pop("methodology_version")
        assert dict(frame.schema) == declared, table
        assert wh.replace_rows(scratch, table, frame, where={"as_of": AS_OF}) == frame.height > 0
        assert scratch.execute(f"SELECT DISTINCT run_id FROM {table}").fetchall() == [("test",)]


def test_the_digest_follows_quotes_and_portfolio_but_not_fetch_times_or_held_hedges(chain):
    book = parse_portfolio(PORTFOLIO)
    base = inputs_digest(chain, book)
    hedged = parse_portfolio({**PORTFOLIO, "hedges": [{"right": "put", "strike": 350.0, "expiry": date(2026, 6, 18),
                                                       "contracts": 1, "entry_date": date(2026, 1, 5), "premium": 5.0}]})
    assert inputs_digest(chain, hedged) == base
    assert inputs_digest(chain, parse_portfolio({**PORTFOLIO, "loan": {"amount": 260000.0}})) != base
    assert inputs_digest(chain, parse_portfolio({**PORTFOLIO, "strategy": {"aggressive_min_fall": 0.2}})) != base
    refetched = chain.with_columns(fetched_at=pl.col("fetched_at") + pl.duration(minutes=5))
    assert inputs_digest(refetched.reverse(), book) == base  # the same quotes fetched again, in any order
    requoted = chain.with_columns(ask=pl.when(pl.col("contract") == chain["contract"][0]).then(pl.col("ask") + 0.05)
                                  .otherwise(pl.col("ask")))
    assert inputs_digest(requoted, book) != base


def test_a_snapshot_after_the_last_close_is_priced_off_the_last_close():
    """Live mode with Yahoo down stores a model chain for today from the last stored close."""
    from pipeline.strategies.engine import day_market

    surface = pl.DataFrame({"date": [date(2026, 10, 5), date(2026, 10, 6)], "close": [380.0, 382.27],
                            "atm_vol": [0.25, 0.2517], "rate": [0.038, 0.0379]})
    chain = pl.DataFrame({"source": ["model"]})
    market = day_market(surface, chain, date(2026, 12, 4))
    assert (market.as_of, market.spot, market.atm_vol, market.chain_source) == (date(2026, 12, 4), 382.27, 0.2517, "model")
    with pytest.raises(ValueError, match="as_of=2004-01-02: no GLD close"):
        day_market(surface, chain, date(2004, 1, 2))
