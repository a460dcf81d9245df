"""Live mode when Yahoo is unreachable, failing, hanging or answering.

yfinance is third-party, so its network calls are what the tests replace; our own code runs
unchanged. Every failing case must finish inside the deadline, keep the embedded data and
say `stale` with the reason.
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timezone

import pandas as pd
import polars as pl
import pytest
import yfinance

from pipeline import warehouse
from pipeline.market import embedded, yahoo
from pipeline.market.ingest import ingest

NOW = datetime(2026, 10, 9, 23, 0, tzinfo=timezone.utc)  # Friday evening: last session 2026-10-09
_release = threading.Event()


def _stored_empty() -> pl.DataFrame:
    return embedded.load_prices("GLD", NOW).clear()


def _ingest_gld(deadline_s: float):
    return ingest(
        table="raw.prices_daily", embedded=embedded.load_prices("GLD", NOW), stored=_stored_empty(),
        key=["symbol", "date"], live=True, now=NOW,
        fetch_live=lambda start: yahoo.fetch_prices("GLD", start, deadline_s, NOW),
    )


def _raise(*args, **kwargs):
    raise ConnectionError("Could not resolve host: query2.finance.yahoo.com")


def _hang(*args, **kwargs):
    _release.wait(60)  # a socket that never answers; released at teardown
    raise TimeoutError("released")


@pytest.fixture(autouse=True)
def _release_hung_threads():
    _release.clear()
    yield
    _release.set()


@pytest.mark.parametrize(("behaviour", "words"), [(_raise, "ConnectionError"), (_hang, "deadline")])
def test_failed_fetch_keeps_embedded_data_and_says_stale(monkeypatch, behaviour, words):
    monkeypatch.setattr(yfinance.Ticker, "history", behaviour)
    started = time.monotonic()
    result = _ingest_gld(deadline_s=1.5)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0
    assert result.status == "stale"
    assert words in result.reason and "kept data through 2026-10-06" in result.reason
    assert result.frame.height == 5504 and set(result.frame["source"]) == {"embedded"}


def test_unreachable_network_fails_fast_through_real_yfinance(monkeypatch):
    """No mock: a proxy on a closed loopback port makes every real request fail at once."""
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    started = time.monotonic()
    result = _ingest_gld(deadline_s=10.0)
    assert time.monotonic() - started < 11.0
    assert result.status == "stale"
    assert result.frame["date"].max() == date(2026, 10, 6)


def _yahoo_frame(days: list[str]) -> pd.DataFrame:
    """What yfinance's history() returns: a tz-aware DatetimeIndex and capitalised columns."""
    index = pd.DatetimeIndex(pd.to_datetime(days)).tz_localize("America/New_York")
    index.name = "Date"
    n = len(days)
    return pd.DataFrame({"Open": [380.0] * n, "High": [386.0] * n, "Low": [379.0] * n,
                         "Close": [385.5 + i for i in range(n)], "Adj Close": [385.5 + i for i in range(n)],
                         "Volume": [9_000_000] * n}, index=index)


def test_live_rows_are_appended_after_the_embedded_history(monkeypatch):
    requested: list[str] = []

    def history(self, start, **kwargs):
        requested.append(start)
        return _yahoo_frame(["2026-10-07", "2026-10-08", "2026-10-09"])

    monkeypatch.setattr(yfinance.Ticker, "history", history)
    result = _ingest_gld(deadline_s=5.0)
    assert requested == ["2026-10-07"]
    assert result.status == "live"
    tail = result.frame.filter(pl.col("date") > date(2026, 10, 6))
    assert tail["source"].to_list() == ["yfinance"] * 3
    assert tail["close"].to_list() == [385.5, 386.5, 387.5]
    assert result.frame.height == 5507


def test_short_live_answer_is_partial(monkeypatch):
    monkeypatch.setattr(yfinance.Ticker, "history", lambda self, **kw: _yahoo_frame(["2026-10-07"]))
    result = _ingest_gld(deadline_s=5.0)
    assert result.status == "partial"
    assert "through 2026-10-07" in result.reason and "2026-10-09" in result.reason


def test_pipeline_run_succeeds_within_deadline_when_yahoo_hangs(sandbox, materialize_all, monkeypatch):
    monkeypatch.setattr(yfinance.Ticker, "history", _hang)
    started = time.monotonic()
    result = materialize_all(sandbox.resources(live=True, deadline_seconds=1.0))
    assert result.success
    assert time.monotonic() - started < 120
    for key in ("prices_daily", "gvz_daily", "rates_daily"):
        materialization = result.asset_materializations_for_node(f"raw__{key}")[0]
        assert materialization.metadata["status"].value == "stale"
        assert "deadline" in materialization.metadata["reason"].value
    with warehouse.open_warehouse(sandbox.warehouse, read_only=True) as conn:
        status = warehouse.latest_ingest_status(conn)
    assert all(detail.startswith("stale:") for detail in status.values())
