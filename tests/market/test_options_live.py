"""Live chain fetch under a hard deadline, with yfinance.Ticker patched (no network here):
failing, hanging and answering Yahoo. A failed live fetch stores the model chain, says so, and
returns within the deadline."""

import time
from collections import namedtuple
from datetime import date, datetime, timezone

import pandas as pd
import polars as pl
import pytest
import yfinance

from pipeline.market import options
from pipeline.market.yahoo import LiveFetchError

NOW = datetime(2026, 10, 6, 22, 30, tzinfo=timezone.utc)
DAY = date(2026, 10, 6)
Chain = namedtuple("Chain", ["calls", "puts", "underlying"])


def _side(symbol: str, strike: float) -> pd.DataFrame:
    return pd.DataFrame({
        "contractSymbol": [symbol], "lastTradeDate": [pd.Timestamp("2026-10-06 19:59", tz="UTC")],
        "strike": [strike], "lastPrice": [4.2], "bid": [4.1], "ask": [4.3], "change": [0.0],
        "percentChange": [0.0], "volume": [float("nan")], "openInterest": [120], "impliedVolatility": [0.26],
        "inTheMoney": [False], "contractSize": ["REGULAR"], "currency": ["USD"]})


def _model() -> pl.DataFrame:
    return pl.DataFrame({"expiry": [date(2026, 10, 16)], "source": ["model"]})


def _snapshot(deadline: float) -> options.SnapshotResult:
    return options.chain_snapshot(
        live=True, snapshot_date=DAY, build_model=_model,
        fetch_live=lambda: options.fetch_chain("GLD", DAY, deadline, NOW))


def test_small_answer_becomes_quotes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yfinance.Ticker, "options", property(lambda self: ("2026-10-16",)))
    monkeypatch.setattr(yfinance.Ticker, "option_chain", lambda self, date=None, tz=None: Chain(
        _side("GLD261016C00390000", 390.0), _side("GLD261016P00370000", 370.0),
        {"regularMarketPrice": 382.27}))
    result = _snapshot(5.0)
    assert result.status == "live"
    frame = result.frame
    assert frame.height == 2 and set(frame["source"]) == {"yfinance"}
    assert frame["option_right"].to_list() == ["C", "P"]
    assert frame["underlying_price"].to_list() == [382.27, 382.27]
    assert frame["volume"].null_count() == 2 and frame["open_interest"].to_list() == [120, 120]
    assert frame["snapshot_date"].unique().to_list() == [DAY]


def test_yahoo_error_falls_back_to_the_model_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self):  # noqa: ANN001, ANN202
        raise ConnectionError("Yahoo unreachable")

    monkeypatch.setattr(yfinance.Ticker, "options", property(boom))
    result = _snapshot(5.0)
    assert result.status == "stale"
    assert "Yahoo unreachable" in result.reason and "model chain" in result.reason
    assert result.frame["source"].to_list() == ["model"]


def test_hanging_yahoo_is_abandoned_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yfinance.Ticker, "options", property(lambda self: ("2026-10-16", "2026-10-23")))
    monkeypatch.setattr(yfinance.Ticker, "option_chain", lambda self, date=None, tz=None: time.sleep(30))
    started = time.monotonic()
    result = _snapshot(1.5)
    assert time.monotonic() - started < 3.0
    assert result.status == "stale" and "deadline" in result.reason
    assert result.frame["source"].to_list() == ["model"]


def test_some_expiries_missing_keeps_the_live_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    def chain(self, date=None, tz=None):  # noqa: ANN001, ANN202
        if date == "2026-10-23":
            raise ValueError("malformed answer")
        return Chain(_side("GLD261016C00390000", 390.0), _side("GLD261016P00370000", 370.0), {})

    monkeypatch.setattr(yfinance.Ticker, "options", property(lambda self: ("2026-10-16", "2026-10-23")))
    monkeypatch.setattr(yfinance.Ticker, "option_chain", chain)
    result = _snapshot(5.0)
    assert result.status == "partial" and "1 of 2" in result.reason and "malformed" in result.reason
    assert result.frame.height == 2


def test_live_off_uses_the_model_and_says_so() -> None:
    def never() -> options.ChainFetch:
        raise AssertionError("no live fetch when live mode is off")

    result = options.chain_snapshot(live=False, snapshot_date=DAY, fetch_live=never, build_model=_model)
    assert result.status == "model" and "not market quotes" in result.reason


def test_default_snapshot_day() -> None:
    assert options.default_snapshot_day(False, NOW, date(2026, 10, 6)) == date(2026, 10, 6)
    # live: the last completed NYSE session (Sunday 2026-11-22 -> Friday 2026-11-20)
    sunday = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
    assert options.default_snapshot_day(True, sunday, date(2026, 10, 6)) == date(2026, 11, 20)
    # live during a session: today's chain (intraday, under the TTL), not yesterday's
    tuesday_11am_new_york = datetime(2026, 11, 24, 16, tzinfo=timezone.utc)
    assert options.default_snapshot_day(True, tuesday_11am_new_york, None) == date(2026, 11, 24)


def test_fetch_error_type_is_live_fetch_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yfinance.Ticker, "options", property(lambda self: time.sleep(5)))
    with pytest.raises(LiveFetchError, match="GLD expiries"):
        options.fetch_chain("GLD", DAY, 0.5, NOW)
