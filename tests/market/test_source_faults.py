"""Every live source under every fault: down, slow, rate-limited, empty, garbage.

yfinance's network calls are replaced (there is no internet here); our fetch, deadline, fallback
and status code run unchanged. For each (source, fault) the step must return inside its deadline
(+1 s), keep the data it already had (embedded history, or the model chain), never crash, and say
`stale` (or `partial`) with the reason. The timings are what RELIABILITY.md records.
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timezone

import pandas as pd
import polars as pl
import pytest
import yfinance
from yfinance.exceptions import YFRateLimitError

from pipeline.market import embedded, options, yahoo
from pipeline.market.ingest import ingest

NOW = datetime(2026, 10, 9, 23, 0, tzinfo=timezone.utc)  # Friday evening: last session 2026-10-09
DEADLINE = 1.5
_release = threading.Event()


def _down(*args, **kwargs):
    raise ConnectionError("Could not resolve host: query2.finance.yahoo.com")


def _slow(*args, **kwargs):
    _release.wait(60)  # never answers within the deadline; released at teardown
    raise TimeoutError("released")


def _rate_limited(*args, **kwargs):
    raise YFRateLimitError()


def _empty(*args, **kwargs):
    return pd.DataFrame()


def _garbage(*args, **kwargs):
    return pd.DataFrame({"Date": ["not a date"], "Close": ["N/A"], "Volume": ["lots"]})


FAULTS = {"down": (_down, "ConnectionError"), "slow": (_slow, "deadline"),
          "rate_limited": (_rate_limited, "YFRateLimitError"), "empty": (_empty, "yfinance returned data through"),
          "garbage": (_garbage, "history")}
SOURCES = {
    "raw.prices_daily": (lambda: embedded.load_prices("GLD", NOW), ["symbol", "date"],
                         lambda start: yahoo.fetch_prices("GLD", start, DEADLINE, NOW)),
    "raw.gvz_daily": (lambda: embedded.load_gvz(NOW), ["date"], lambda start: yahoo.fetch_gvz(start, DEADLINE, NOW)),
    "raw.rates_daily": (lambda: embedded.load_rates(NOW), ["date", "tenor"],
                        lambda start: yahoo.fetch_rates(start, DEADLINE, NOW)),
}


@pytest.fixture(autouse=True)
def _release_hung_threads():
    _release.clear()
    yield
    _release.set()


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("table", sorted(SOURCES))
def test_daily_series_keep_their_history_and_say_why(monkeypatch, table, fault):
    behaviour, words = FAULTS[fault]
    monkeypatch.setattr(yfinance.Ticker, "history", behaviour)
    load, key, fetch = SOURCES[table]
    history = load()
    started = time.monotonic()
    result = ingest(table=table, embedded=history, stored=history.clear(), key=key, live=True, now=NOW,
                    fetch_live=fetch)
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE + 1.0, f"{table} {fault}: {elapsed:.2f} s"
    assert result.status in ("stale", "partial"), result.reason
    assert words in result.reason, result.reason
    assert result.frame.height == history.height and set(result.frame["source"]) == {"embedded"}


def _model() -> pl.DataFrame:
    return pl.DataFrame({"expiry": [date(2026, 10, 16)], "source": ["model"]})


CHAIN_FAULTS = {
    "down": ("options", property(_down), "ConnectionError"),
    "slow": ("options", property(_slow), "deadline"),
    "rate_limited": ("options", property(_rate_limited), "YFRateLimitError"),
    "empty": ("options", property(lambda self: ()), "live chain empty (0/0 expiries)"),
    "garbage": ("option_chain", lambda self, date=None, tz=None: ("calls?", None),
                "live chain empty (0/2 expiries)"),
}


@pytest.mark.parametrize("fault", sorted(CHAIN_FAULTS))
def test_chain_snapshot_falls_back_to_the_model_chain_and_says_why(monkeypatch, fault):
    attribute, behaviour, words = CHAIN_FAULTS[fault]
    if attribute == "option_chain":
        monkeypatch.setattr(yfinance.Ticker, "options", property(lambda self: ("2026-10-16", "2026-10-23")))
    monkeypatch.setattr(yfinance.Ticker, attribute, behaviour)
    started = time.monotonic()
    result = options.chain_snapshot(live=True, snapshot_date=date(2026, 10, 9), build_model=_model,
                                    fetch_live=lambda: options.fetch_chain("GLD", date(2026, 10, 9), DEADLINE, NOW))
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE + 1.0, f"chain {fault}: {elapsed:.2f} s"
    assert result.status == "stale", result.reason
    assert words in result.reason and "model chain" in result.reason, result.reason
    assert result.frame["source"].to_list() == ["model"]
