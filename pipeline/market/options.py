"""Live GLD option chains from Yahoo Finance (yfinance), every expiry, under one hard deadline,
and the snapshot-day decision: live chain, partial live chain, or the model chain as fallback.

Each yfinance call runs through `yahoo.call_with_deadline` with whatever is left of the overall
budget, so a hung socket never holds the pipeline past `deadline_s`. pandas stops here: each
expiry's frame is converted to Polars at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import polars as pl

from pipeline.market import calendar
from pipeline.market.quotes import QUOTES_SCHEMA
from pipeline.market.yahoo import YAHOO_SOURCE, LiveFetchError, call_with_deadline

# One request per expiry (~25 for GLD): the chain gets this many times the per-request deadline.
CHAIN_DEADLINE_MULTIPLE = 3.0
MIN_REQUEST_SECONDS = 0.5

Status = Literal["live", "partial", "stale", "model"]


def _quotes_from_pandas(table: object, symbol: str, expiry: date, right: str,
                        snapshot_date: date, underlying_price: float | None,
                        fetched_at: datetime) -> pl.DataFrame:
    """One side of one expiry (yfinance pandas frame) -> `raw.option_quotes` rows."""
    frame = pl.from_pandas(table)  # type: ignore[arg-type]
    if frame.is_empty():
        return pl.DataFrame(schema=QUOTES_SCHEMA)
    return frame.select(
        snapshot_date=pl.lit(snapshot_date, dtype=pl.Date),
        symbol=pl.lit(symbol),
        contract=pl.col("contractSymbol").cast(pl.Utf8),
        expiry=pl.lit(expiry, dtype=pl.Date),
        option_right=pl.lit(right),
        strike=pl.col("strike").cast(pl.Float64),
        bid=pl.col("bid").cast(pl.Float64),
        ask=pl.col("ask").cast(pl.Float64),
        last=pl.col("lastPrice").cast(pl.Float64),
        volume=pl.col("volume").cast(pl.Float64).fill_nan(None).cast(pl.Int64),
        open_interest=pl.col("openInterest").cast(pl.Float64).fill_nan(None).cast(pl.Int64),
        vendor_iv=pl.col("impliedVolatility").cast(pl.Float64),
        underlying_price=pl.lit(underlying_price, dtype=pl.Float64),
        last_trade_at=pl.col("lastTradeDate").cast(pl.Datetime("us", "UTC")),
        source=pl.lit(YAHOO_SOURCE),
        fetched_at=pl.lit(fetched_at, dtype=pl.Datetime("us", "UTC")),
    ).cast(QUOTES_SCHEMA)


@dataclass(frozen=True)
class ChainFetch:
    """What a live chain fetch got: rows, and which expiries it did not get (and why)."""

    frame: pl.DataFrame
    expiries_listed: int
    expiries_fetched: int
    errors: tuple[str, ...]


def fetch_chain(symbol: str, snapshot_date: date, deadline_s: float, fetched_at: datetime) -> ChainFetch:
    """Every listed expiry of `symbol` from yfinance within `deadline_s` seconds in total.

    Raises LiveFetchError when not even the expiry list arrives in time. Expiries that fail or
    miss the deadline are listed in `errors`; the rows of the others are kept.
    """
    import yfinance  # imported lazily: only live runs pay for it

    started = time.monotonic()
    ticker = yfinance.Ticker(symbol)

    def remaining() -> float:
        return deadline_s - (time.monotonic() - started)

    expiries = call_with_deadline(lambda: tuple(ticker.options), remaining(), f"{symbol} expiries")
    parts, errors = [], []
    for text in expiries:
        left = remaining()
        if left < MIN_REQUEST_SECONDS:
            errors.append(f"{text}: deadline reached before the request")
            continue

        def request(text: str = text) -> pl.DataFrame:
            got = ticker.option_chain(text)
            if got.calls is None or got.puts is None:
                raise ValueError("yfinance returned no chain")
            quote = got.underlying if isinstance(got.underlying, dict) else {}
            spot = quote.get("regularMarketPrice")
            expiry = date.fromisoformat(text)
            return pl.concat([
                _quotes_from_pandas(table, symbol, expiry, right, snapshot_date, spot, fetched_at)
                for table, right in ((got.calls, "C"), (got.puts, "P"))
            ])

        try:  # conversion runs inside the deadline too: a malformed frame is one failed expiry
            parts.append(call_with_deadline(request, left, f"{symbol} chain {text}"))
        except LiveFetchError as error:
            errors.append(str(error))
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=QUOTES_SCHEMA)
    return ChainFetch(frame.unique("contract", keep="first").sort("expiry", "option_right", "strike"),
                      len(expiries), len(expiries) - len(errors), tuple(errors))


def default_snapshot_day(live: bool, now: datetime, latest_data_day: date | None) -> date:
    """The chain snapshot day when none is given: live, the last completed NYSE session at `now`;
    offline, the latest GLD day in the data (the model chain is for the latest trading day we
    have prices for, never for a day without a close)."""
    if live or latest_data_day is None:
        return calendar.last_completed_session(now)
    return latest_data_day


@dataclass(frozen=True)
class SnapshotResult:
    """The rows to store for one snapshot day, and where they came from."""

    frame: pl.DataFrame
    status: Status
    reason: str

    def metadata(self) -> dict[str, object]:
        return {
            "status": self.status, "reason": self.reason, "rows": self.frame.height,
            "expiries": self.frame["expiry"].n_unique() if self.frame.height else 0,
            "source": ",".join(sorted(self.frame["source"].unique().to_list())) if self.frame.height else "",
        }


def chain_snapshot(*, live: bool, snapshot_date: date, fetch_live: Callable[[], ChainFetch],
                   build_model: Callable[[], pl.DataFrame]) -> SnapshotResult:
    """Live chain when on and it arrives; otherwise the model chain, with the reason.

    status: 'live' (every expiry), 'partial' (some expiries failed: live rows kept),
    'model' (live mode off), 'stale' (live on but nothing usable arrived: model chain stored).
    """
    if not live:
        return SnapshotResult(build_model(), "model",
                              "live mode off: model chain (GVZ + skew model), not market quotes")
    try:
        got = fetch_live()
    except LiveFetchError as error:
        return SnapshotResult(build_model(), "stale",
                              f"live chain fetch failed, stored the model chain instead: {error}")
    if got.frame.is_empty():
        detail = "; ".join(got.errors[:3]) or "no contracts returned"
        return SnapshotResult(build_model(), "stale",
                              f"live chain empty ({got.expiries_fetched}/{got.expiries_listed} "
                              f"expiries), stored the model chain instead: {detail}")
    if got.errors:
        return SnapshotResult(got.frame, "partial",
                              f"yfinance chain for {snapshot_date}: {got.expiries_fetched} of "
                              f"{got.expiries_listed} expiries; missing: {'; '.join(got.errors[:3])}")
    return SnapshotResult(got.frame, "live",
                          f"yfinance chain for {snapshot_date}: {got.expiries_fetched} expiries, "
                          f"{got.frame.height} contracts")
