"""Live daily bars from Yahoo Finance through yfinance, under a hard deadline.

yfinance's own `timeout=` does not bound every network call it makes, so each request runs in a
daemon thread that is abandoned when the deadline passes: the caller always gets an answer in
time, and a hung socket never holds up the pipeline. Pandas stops here: frames leave as Polars.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import TypeVar

import polars as pl

from pipeline.market.rates import tbill_rates

YAHOO_SOURCE = "yfinance"
GVZ_TICKER = "^GVZ"
TBILL_TICKER = "^IRX"  # 13-week T-bill, bank-discount basis in percent

T = TypeVar("T")


class LiveFetchError(RuntimeError):
    """A live request failed or missed its deadline; the message says which and why."""


def call_with_deadline(fn: Callable[[], T], seconds: float, what: str) -> T:
    """Run `fn` in a daemon thread and return its result, or raise LiveFetchError after `seconds`."""
    answer: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=1)

    def worker() -> None:
        try:
            answer.put((True, fn()))
        except BaseException as error:  # handed to the caller, never swallowed
            answer.put((False, error))

    threading.Thread(target=worker, name=f"yfinance {what}", daemon=True).start()
    try:
        ok, value = answer.get(timeout=seconds)
    except queue.Empty:
        raise LiveFetchError(f"{what}: no answer within the {seconds:g}s deadline") from None
    if not ok:
        raise LiveFetchError(f"{what}: {type(value).__name__}: {value}") from value  # type: ignore[misc]
    return value  # type: ignore[return-value]


def fetch_daily_bars(ticker: str, start: date, deadline_s: float) -> pl.DataFrame:
    """Daily bars of `ticker` from `start` on: date, open, high, low, close, volume.

    One retry on a fast failure, both attempts inside the same overall deadline.
    """
    import yfinance  # imported lazily: only live runs pay for it

    def request() -> pl.DataFrame:
        history = yfinance.Ticker(ticker).history(
            start=start.isoformat(), interval="1d", auto_adjust=False, actions=False,
            raise_errors=True, timeout=max(1.0, deadline_s / 2),
        )
        return _bars_from_pandas(history)

    started = time.monotonic()
    try:
        return call_with_deadline(request, deadline_s, f"{ticker} history")
    except LiveFetchError as first_error:
        remaining = deadline_s - (time.monotonic() - started)
        if remaining <= 0.5:
            raise
        try:
            return call_with_deadline(request, remaining, f"{ticker} history (retry)")
        except LiveFetchError as second_error:
            raise LiveFetchError(f"{first_error}; retry: {second_error}") from second_error


def _bars_from_pandas(history: object) -> pl.DataFrame:
    """yfinance's pandas frame -> Polars with our column names; empty when Yahoo has nothing."""
    frame = pl.from_pandas(history.reset_index())  # type: ignore[attr-defined]
    if frame.is_empty():
        return pl.DataFrame(
            schema={"date": pl.Date, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
                    "close": pl.Float64, "volume": pl.Int64}
        )
    renamed = frame.rename({c: c.lower() for c in frame.columns})
    date_col = "date" if "date" in renamed.columns else "datetime"
    return renamed.select(
        date=pl.col(date_col).cast(pl.Date),
        open=pl.col("open").cast(pl.Float64),
        high=pl.col("high").cast(pl.Float64),
        low=pl.col("low").cast(pl.Float64),
        close=pl.col("close").cast(pl.Float64),
        volume=pl.col("volume").cast(pl.Int64),
    ).drop_nulls("close")


def _provenance(frame: pl.DataFrame, fetched_at: datetime) -> pl.DataFrame:
    return frame.with_columns(
        source=pl.lit(YAHOO_SOURCE), fetched_at=pl.lit(fetched_at, dtype=pl.Datetime("us", "UTC"))
    )


def fetch_prices(symbol: str, start: date, deadline_s: float, fetched_at: datetime) -> pl.DataFrame:
    """Live bars of `symbol` in the `raw.prices_daily` layout."""
    bars = fetch_daily_bars(symbol, start, deadline_s).with_columns(symbol=pl.lit(symbol))
    return _provenance(bars, fetched_at).select(
        "symbol", "date", "open", "high", "low", "close", "volume", "source", "fetched_at"
    )


def fetch_gvz(start: date, deadline_s: float, fetched_at: datetime) -> pl.DataFrame:
    """Live GVZ closes in the `raw.gvz_daily` layout."""
    return _provenance(fetch_daily_bars(GVZ_TICKER, start, deadline_s).select("date", "close"), fetched_at)


def fetch_rates(start: date, deadline_s: float, fetched_at: datetime) -> pl.DataFrame:
    """Live 13-week T-bill quotes in the `raw.rates_daily` layout."""
    bills = fetch_daily_bars(TBILL_TICKER, start, deadline_s)
    return _provenance(tbill_rates(bills, "close"), fetched_at)
