"""The real Cboe end-of-day SPY chain of 2026-07-24 (tests/fixtures), loaded and valued.

Shared by the valuation tests (tests/pricing/test_spy_chain.py) and the strategy leg picker's
(tests/strategies/test_legs.py). Carry per expiry from put-call parity: see test_spy_chain.py.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl

from pipeline.market import embedded
from pipeline.market.quotes import QUOTES_SCHEMA
from pipeline.pricing import chain

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "SPY_chain_2026-07-24_cboe_eod.csv"
DAY = date(2026, 7, 24)
FALLBACK_Q = 0.011


def spy_quotes() -> pl.DataFrame:
    """The fixture CSV in the `raw.option_quotes` layout (source 'cboe', spot = underlying close)."""
    raw = pl.read_csv(FIXTURE, infer_schema_length=0)
    number = lambda name: pl.col(name).cast(pl.Float64)  # noqa: E731
    return raw.select(
        snapshot_date=pl.col("session_date").str.to_date(), symbol=pl.col("ticker"),
        contract=pl.col("option"), expiry=pl.col("expiry").str.to_date(),
        option_right=pl.col("right"), strike=number("strike"), bid=number("bid"), ask=number("ask"),
        last=number("last_trade_price"), volume=number("volume").cast(pl.Int64),
        open_interest=number("open_interest").cast(pl.Int64), vendor_iv=number("iv"),
        underlying_price=number("underlying_close"),
        last_trade_at=pl.col("last_trade_time").str.to_datetime(time_zone="America/New_York", strict=False)
        .dt.convert_time_zone("UTC"),
        source=pl.lit("cboe"), fetched_at=pl.col("fetched_at_utc").str.to_datetime(time_zone="UTC"),
    ).cast(QUOTES_SCHEMA)


def parity_carry(quotes: pl.DataFrame, rate: float) -> pl.DataFrame:
    """[expiry, q]: carry implied by put-call parity at the five strikes nearest spot."""
    spot = quotes["underlying_price"][0]
    mids = (quotes.filter(pl.col("bid") > 0)
            .with_columns(mid=(pl.col("bid") + pl.col("ask")) / 2)
            .pivot(on="option_right", index=["expiry", "strike"], values="mid").drop_nulls()
            .with_columns(t=(pl.col("expiry") - pl.lit(DAY)).dt.total_days() / 365)
            .filter(pl.col("t") > 0))
    forwards = mids.with_columns(
        forward=pl.col("strike") + (pl.col("C") - pl.col("P")) * (rate * pl.col("t")).exp(),
        distance=(pl.col("strike") - spot).abs(),
    ).sort("distance").group_by("expiry").head(5)
    return forwards.group_by("expiry").agg(pl.col("forward").median(), pl.col("t").first()).select(
        "expiry", q=rate - (pl.col("forward") / spot).log() / pl.col("t"))


def valued_spy_chain() -> pl.DataFrame:
    """Every fixture row valued by `value_quotes` at the day's T-bill and the parity carry."""
    rates = embedded.load_rates(datetime(2026, 10, 7, tzinfo=timezone.utc))
    rate = rates.filter(pl.col("date") <= DAY)["rate"][-1]
    quotes = spy_quotes()
    quotes = quotes.join(parity_carry(quotes, rate), on="expiry", how="left").with_columns(
        pl.col("q").fill_null(FALLBACK_Q))
    return chain.value_quotes(quotes, rates)
