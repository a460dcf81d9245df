"""Live GLD option chains from Yahoo Finance (yfinance), every expiry, under one hard deadline,
and the snapshot-day decision: live chain, partial live chain, or the model chain as fallback.

Each yfinance call runs through `yahoo.call_with_deadline` with whatever is left of the overall
budget, so a hung socket never holds the pipeline past `deadline_s`. pandas stops here: each
expiry's frame is converted to Polars at once.

`session_snapshot` adds market hours: Yahoo serves the chain of the session being quoted now
(`calendar.quoted_session`), intraday while it is open and final after its close. A stored
complete live chain is reused instead of calling Yahoo again when it is final, or when it is
intraday and younger than INTRADAY_TTL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal

import polars as pl

from pipeline.market import calendar
from pipeline.market.quotes import QUOTES_SCHEMA
from pipeline.market.yahoo import YAHOO_SOURCE, LiveFetchError, call_with_deadline

# One request per expiry (~25 for GLD): the chain gets this many times the per-request deadline.
CHAIN_DEADLINE_MULTIPLE = 3.0
MIN_REQUEST_SECONDS = 0.5
# Intraday quotes move: a stored intraday chain stands for a new fetch this long after it was taken.
INTRADAY_TTL = timedelta(minutes=15)

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
    """The chain snapshot day when none is given: live, the session Yahoo quotes at `now` (today's
    while the market is open, so an intraday run snapshots today's chain under the 15-minute TTL;
    else the last completed session); offline, the latest GLD day in the data (the model chain is
    for the latest trading day we have prices for, never for a day without a close)."""
    if live or latest_data_day is None:
        return calendar.quoted_session(now)
    return latest_data_day


@dataclass(frozen=True)
class SnapshotResult:
    """The rows to store for one snapshot day, and where they came from.

    `final`: for live quotes, whether they are the day's closing quotes (False: intraday); None
    when that is not known (model chain, or no session context). `reused`: the stored rows stand
    as they are (nothing fetched, nothing to rewrite).
    """

    frame: pl.DataFrame
    status: Status
    reason: str
    final: bool | None = None
    reused: bool = False

    def metadata(self) -> dict[str, object]:
        finality = {} if self.final is None else {"final": self.final}
        return {
            "status": self.status, "reason": self.reason, "rows": self.frame.height,
            "expiries": self.frame["expiry"].n_unique() if self.frame.height else 0,
            "source": ",".join(sorted(self.frame["source"].unique().to_list())) if self.frame.height else "",
            **finality, "reused": self.reused,
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


@dataclass(frozen=True)
class StoredChain:
    """A snapshot day's rows as an earlier run stored them, and the status that run logged."""

    frame: pl.DataFrame
    status: str | None

    def live_fetched_at(self) -> datetime | None:
        """When the stored rows were fetched, if they are one complete live chain (logged 'live',
        every row from yfinance); None otherwise (nothing stored, a model or a partial chain)."""
        if self.status != "live" or self.frame.is_empty():
            return None
        if self.frame["source"].unique().to_list() != [YAHOO_SOURCE]:
            return None
        return self.frame["fetched_at"].max()  # type: ignore[return-value]


def _new_york(at: datetime) -> str:
    return calendar.exchange_time(at).strftime("%H:%M")


def _close_of(day: date) -> str:
    """`day`'s close in New York time; `day` is a session (its quotes were or are being taken)."""
    close = calendar.session_close(day)
    assert close is not None, f"{day} has no session"
    return _new_york(close)


def session_snapshot(*, live: bool, snapshot_date: date, now: datetime, stored: StoredChain,
                     fetch_live: Callable[[], ChainFetch],
                     build_model: Callable[[], pl.DataFrame]) -> SnapshotResult:
    """`chain_snapshot` aware of the NYSE session at `now`, reusing the stored chain when it stands:

    - stored complete live chain taken after the day's close (before the next open): final, reused;
    - the day's session is open and the stored complete live chain is younger than INTRADAY_TTL:
      reused ('cached'), not final;
    - the market quotes another session now (`snapshot_date` is past, or has not opened yet): a
      fetch would store that session's quotes under the wrong day, so none is made; the stored
      rows are kept, or the model chain stored, status 'stale';
    - otherwise fetch; live rows say whether they are final (after the close) or intraday.
    """
    if not live:
        return chain_snapshot(live=False, snapshot_date=snapshot_date, fetch_live=fetch_live,
                              build_model=build_model)
    fetched_at = stored.live_fetched_at()
    if fetched_at is not None and calendar.quotes_are_final(snapshot_date, fetched_at):
        return SnapshotResult(stored.frame, "live",
                              f"final: closing chain of {snapshot_date} fetched {_new_york(fetched_at)} "
                              f"New York, after the {_close_of(snapshot_date)} close; reused, not re-fetched",
                              final=True, reused=True)
    quoted = calendar.quoted_session(now)
    if quoted != snapshot_date:
        why = (f"live quotes at {_new_york(now)} New York are for the {quoted} session, "
               f"not {snapshot_date}")
        if not stored.frame.is_empty():
            return SnapshotResult(stored.frame, "stale",
                                  f"{why}: kept the stored chain (last ingest status "
                                  f"{stored.status or 'not logged'})", reused=True)
        return SnapshotResult(build_model(), "stale", f"{why}: stored the model chain instead")
    intraday = calendar.session_state(now) == "open"
    if intraday and fetched_at is not None and now - fetched_at < INTRADAY_TTL:
        return SnapshotResult(stored.frame, "live",
                              f"cached: fetched {_new_york(fetched_at)}, TTL "
                              f"{INTRADAY_TTL.total_seconds() / 60:g} min (intraday, not final)",
                              final=False, reused=True)
    result = chain_snapshot(live=True, snapshot_date=snapshot_date, fetch_live=fetch_live,
                            build_model=build_model)
    if result.status == "stale":  # model chain: no live quotes to call final or intraday
        return result
    when = (f"intraday at {_new_york(now)} New York, not final" if intraday
            else f"final: fetched {_new_york(now)} New York, after the {_close_of(snapshot_date)} close")
    return replace(result, reason=f"{result.reason}; {when}", final=not intraday)
