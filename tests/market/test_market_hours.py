"""Market hours on the real NYSE calendar (pandas_market_calendars, no mock): session state at
fixed instants, the last completed session, freshness overnight and on closed days, the unfinished
bar of a session in progress, and the chain snapshot's TTL/final reuse with yfinance patched
(calls counted: there is no network here). Every `now` is a fixed UTC instant."""

from __future__ import annotations

from collections import namedtuple
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import duckdb
import pandas as pd
import polars as pl
import pytest
import yfinance

from assets import ingest as ingest_assets
from assets import options as option_assets
from assets.resources import MarketDataResource
from pipeline.market import calendar, embedded, options, quality, yahoo
from pipeline.market.ingest import ingest


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


# Tuesday 2026-12-08: New York is UTC-5 (EST); the session runs 14:30-21:00 UTC.
MIDDAY = utc("2026-12-08 17:00")        # 12:00 New York
BEFORE_CLOSE = utc("2026-12-08 20:59")  # 15:59 New York
AFTER_CLOSE = utc("2026-12-08 21:01")   # 16:01 New York
TUESDAY_3AM = utc("2026-12-08 08:00")   # 03:00 New York
TUESDAY, MONDAY, FRIDAY = date(2026, 12, 8), date(2026, 12, 7), date(2026, 12, 4)


# --- calendar.session_state / last_completed_session / session_close -------------------------

def test_normal_session_midday_is_open_and_the_last_completed_session_is_the_day_before():
    assert calendar.session_state(MIDDAY) == "open"
    assert calendar.last_completed_session(MIDDAY) == MONDAY
    assert calendar.quoted_session(MIDDAY) == TUESDAY
    assert calendar.session_close(TUESDAY) == utc("2026-12-08 21:00")


def test_one_minute_before_and_after_the_16_00_close():
    assert calendar.session_state(BEFORE_CLOSE) == "open"
    assert calendar.last_completed_session(BEFORE_CLOSE) == MONDAY
    assert calendar.session_state(AFTER_CLOSE) == "closed_final"
    assert calendar.last_completed_session(AFTER_CLOSE) == TUESDAY
    assert not calendar.quotes_are_final(TUESDAY, BEFORE_CLOSE)
    assert calendar.quotes_are_final(TUESDAY, AFTER_CLOSE)


def test_day_after_thanksgiving_2025_closes_at_13_00():
    day = date(2025, 11, 28)
    assert calendar.session_close(day) == utc("2025-11-28 18:00")  # 13:00 New York
    assert calendar.session_state(utc("2025-11-28 17:59")) == "open"
    half_past_one = utc("2025-11-28 18:30")  # 13:30 New York
    assert calendar.session_state(half_past_one) == "closed_final"
    assert calendar.last_completed_session(half_past_one) == day
    assert calendar.quotes_are_final(day, half_past_one)


def test_christmas_eve_2026_closes_early_and_christmas_has_no_session():
    eve = date(2026, 12, 24)
    assert calendar.session_close(eve) == utc("2026-12-24 18:00")
    assert calendar.session_state(utc("2026-12-24 17:30")) == "open"
    assert calendar.session_state(utc("2026-12-24 18:30")) == "closed_final"
    christmas = utc("2026-12-25 17:00")
    assert calendar.session_state(christmas) == "no_session"
    assert calendar.last_completed_session(christmas) == eve
    assert calendar.closure_name(date(2026, 12, 25)) == "Christmas"
    assert calendar.session_close(date(2026, 12, 25)) is None


def test_good_friday_and_saturday_have_no_session():
    good_friday = utc("2026-04-03 16:00")
    assert calendar.session_state(good_friday) == "no_session"
    assert calendar.last_completed_session(good_friday) == date(2026, 4, 2)
    assert "Good Friday" in calendar.closure_name(date(2026, 4, 3))
    saturday = utc("2026-12-05 15:00")
    assert calendar.session_state(saturday) == "no_session"
    assert calendar.last_completed_session(saturday) == FRIDAY
    assert calendar.closure_name(date(2026, 12, 5)) == "Saturday"
    assert calendar.closure_name(TUESDAY) is None


def test_three_am_on_a_tuesday_is_before_the_open_and_monday_is_the_last_session():
    assert calendar.session_state(TUESDAY_3AM) == "pre_open"
    assert calendar.last_completed_session(TUESDAY_3AM) == MONDAY
    assert calendar.quoted_session(TUESDAY_3AM) == MONDAY
    assert calendar.quotes_are_final(MONDAY, TUESDAY_3AM)


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.session_state(datetime(2026, 12, 8, 12))


# --- freshness: nothing is due while the market is closed ----------------------------------

@pytest.mark.parametrize(("now", "last_session", "state"), [
    (TUESDAY_3AM, MONDAY, "pre_open"),
    (utc("2026-04-03 16:00"), date(2026, 4, 2), "no_session"),  # Good Friday
    (utc("2026-12-05 15:00"), FRIDAY, "no_session"),            # Saturday
    (MIDDAY, MONDAY, "open"),
])
def test_data_through_the_last_completed_session_is_fresh(now, last_session, state):
    result = quality.freshness(last_session, now, "live", "prices")
    assert result.passed, result.description
    assert result.metadata["sessions_behind"] == 0
    assert result.metadata["last_completed_session"] == str(last_session)
    assert result.metadata["session_state"] == state


def test_a_missed_session_is_still_stale():
    result = quality.freshness(FRIDAY, TUESDAY_3AM, "live", "prices")
    assert not result.passed and result.metadata["sessions_behind"] == 1


def test_an_early_close_counts_at_its_early_time():
    wednesday = date(2025, 11, 26)
    assert quality.freshness(wednesday, utc("2025-11-28 17:30"), "live", "prices").passed   # 12:30
    late = quality.freshness(wednesday, utc("2025-11-28 18:30"), "live", "prices")          # 13:30
    assert not late.passed and late.metadata["last_completed_session"] == "2025-11-28"


# --- ingest: no fetch while nothing is due, no unfinished bar --------------------------------

def _never(start: date) -> pl.DataFrame:
    raise AssertionError("no live fetch expected")


@pytest.mark.parametrize(("now", "last_session"), [
    (utc("2026-10-07 07:00"), date(2026, 10, 6)),  # 03:00 Wednesday
    (utc("2026-10-03 16:00"), date(2026, 10, 2)),  # Saturday noon
    (utc("2026-04-03 16:00"), date(2026, 4, 2)),   # Good Friday noon
])
def test_ingest_does_not_fetch_when_the_last_completed_session_is_stored(now, last_session):
    history = embedded.load_prices("GLD", now).filter(pl.col("date") <= last_session)
    result = ingest(table="raw.prices_daily", embedded=history, stored=history.clear(),
                    key=["symbol", "date"], live=True, fetch_live=_never, now=now)
    assert result.status == "live"
    assert result.reason == f"already up to date through {last_session} (last completed NYSE session {last_session})"


def test_ingest_leaves_out_the_bar_of_the_session_in_progress(monkeypatch):
    now = utc("2026-10-08 16:00")  # Thursday 12:00 New York (EDT): Wednesday is the last completed
    days = ["2026-10-07", "2026-10-08"]
    index = pd.DatetimeIndex(pd.to_datetime(days)).tz_localize("America/New_York").rename("Date")
    bars = pd.DataFrame({"Open": [380.0, 381.0], "High": [386.0, 387.0], "Low": [379.0, 380.0],
                         "Close": [385.0, 386.0], "Volume": [9_000_000, 4_000_000]}, index=index)
    monkeypatch.setattr(yfinance.Ticker, "history", lambda self, **kwargs: bars)
    history = embedded.load_prices("GLD", now)
    result = ingest(table="raw.prices_daily", embedded=history, stored=history.clear(),
                    key=["symbol", "date"], live=True, now=now,
                    fetch_live=lambda start: yahoo.fetch_prices("GLD", start, 5.0, now))
    assert result.status == "live"
    assert result.last_date == date(2026, 10, 7)
    assert "left out the unfinished bar of 2026-10-08" in result.reason


# --- chain snapshot: intraday TTL, final after the close -------------------------------------

Chain = namedtuple("Chain", ["calls", "puts", "underlying"])


def _side(contract: str, strike: float) -> pd.DataFrame:
    return pd.DataFrame({
        "contractSymbol": [contract], "lastTradeDate": [pd.Timestamp("2026-12-08 16:59", tz="UTC")],
        "strike": [strike], "lastPrice": [4.2], "bid": [4.1], "ask": [4.3], "volume": [10.0],
        "openInterest": [120], "impliedVolatility": [0.26]})


@pytest.fixture
def yahoo_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Patch yfinance's chain calls with a one-expiry answer; the list records each chain request."""
    calls: list[str] = []

    def option_chain(self, date=None, tz=None):  # noqa: ANN001, ANN202
        calls.append(date)
        return Chain(_side("GLD261218C00390000", 390.0), _side("GLD261218P00370000", 370.0),
                     {"regularMarketPrice": 382.0})

    monkeypatch.setattr(yfinance.Ticker, "options", property(lambda self: ("2026-12-18",)))
    monkeypatch.setattr(yfinance.Ticker, "option_chain", option_chain)
    return calls


def _model() -> pl.DataFrame:
    return pl.DataFrame({"expiry": [date(2026, 12, 18)], "source": ["model"]})


def _snapshot(now: datetime, stored: options.StoredChain, day: date = TUESDAY) -> options.SnapshotResult:
    return options.session_snapshot(
        live=True, snapshot_date=day, now=now, stored=stored, build_model=_model,
        fetch_live=lambda: options.fetch_chain("GLD", day, 5.0, now))


def _stored(result: options.SnapshotResult) -> options.StoredChain:
    return options.StoredChain(result.frame, result.status)


NOTHING_STORED = options.StoredChain(pl.DataFrame(), None)
ELEVEN = utc("2026-12-08 16:00")  # 11:00 New York


def test_intraday_chain_is_reused_within_the_ttl_and_fetched_again_after_it(yahoo_calls):
    first = _snapshot(ELEVEN, NOTHING_STORED)
    assert len(yahoo_calls) == 1
    assert first.status == "live" and first.final is False and not first.reused
    assert "intraday at 11:00 New York, not final" in first.reason

    cached = _snapshot(ELEVEN + timedelta(minutes=14), _stored(first))
    assert len(yahoo_calls) == 1, "a run within the TTL must not call Yahoo"
    assert cached.status == "live" and cached.reused and cached.final is False
    assert cached.reason.startswith("cached: fetched 11:00, TTL 15 min")
    assert cached.frame.equals(first.frame)
    assert cached.metadata()["final"] is False and cached.metadata()["reused"] is True

    expired = _snapshot(ELEVEN + timedelta(minutes=16), _stored(cached))
    assert len(yahoo_calls) == 2, "after the TTL the chain is fetched again"
    assert expired.status == "live" and not expired.reused and expired.final is False


def test_chain_fetched_after_the_close_is_final_and_not_fetched_again(yahoo_calls):
    intraday = _snapshot(BEFORE_CLOSE, NOTHING_STORED)
    closing = _snapshot(AFTER_CLOSE, _stored(intraday))  # the TTL has not passed, but the close has
    assert len(yahoo_calls) == 2
    assert closing.final is True and "final: fetched 16:01 New York, after the 16:00 close" in closing.reason
    for later in (utc("2026-12-09 00:30"), utc("2026-12-09 08:00"), utc("2026-12-09 17:00")):
        reused = _snapshot(later, _stored(closing))
        assert reused.status == "live" and reused.reused and reused.final is True
        assert reused.reason.startswith("final: closing chain of 2026-12-08 fetched 16:01")
    assert len(yahoo_calls) == 2, "a final chain is never fetched again"


def test_early_close_chain_is_final_at_13_30(yahoo_calls):
    eve = date(2026, 12, 24)
    result = _snapshot(utc("2026-12-24 18:30"), NOTHING_STORED, day=eve)
    assert result.final is True and "after the 13:00 close" in result.reason


def test_partial_chain_is_fetched_again_within_the_ttl(yahoo_calls):
    first = _snapshot(ELEVEN, NOTHING_STORED)
    _snapshot(ELEVEN + timedelta(minutes=5), options.StoredChain(first.frame, "partial"))
    assert len(yahoo_calls) == 2


def test_no_fetch_for_a_day_the_market_is_not_quoting(yahoo_calls):
    """On Wednesday at 12:00 Yahoo quotes Wednesday: Tuesday's chain cannot be fetched any more."""
    wednesday_noon = utc("2026-12-09 17:00")
    model = _snapshot(wednesday_noon, NOTHING_STORED)
    assert model.status == "stale" and model.frame["source"].to_list() == ["model"]
    assert "for the 2026-12-09 session, not 2026-12-08" in model.reason
    intraday = _snapshot(ELEVEN, NOTHING_STORED)
    kept = _snapshot(wednesday_noon, _stored(intraday))
    assert kept.status == "stale" and kept.reused and kept.frame.equals(intraday.frame)
    assert len(yahoo_calls) == 1


def test_live_off_is_the_model_chain(yahoo_calls):
    result = options.session_snapshot(live=False, snapshot_date=TUESDAY, now=ELEVEN, stored=NOTHING_STORED,
                                      build_model=_model, fetch_live=lambda: pytest.fail("no live fetch"))
    assert result.status == "model" and not yahoo_calls


# --- the asset: reuse decided from raw.option_quotes and raw.ingest_log --------------------

def test_option_quotes_asset_reuses_the_stored_chain_within_the_ttl(sandbox, yahoo_calls, monkeypatch):
    assets = dg.load_assets_from_modules([ingest_assets, option_assets])
    quotes = [a for a in assets if dg.AssetKey(["raw", "option_quotes"]) in a.keys]
    raw = [a for a in assets if a.key.path[0] == "raw" and a not in quotes]
    assert dg.materialize(raw, resources=sandbox.resources()).success  # offline: embedded history

    eleven = utc("2026-10-06 15:00")  # 11:00 New York (EDT); a past day, so a valid partition

    def run_at(now: datetime) -> dict[str, object]:
        monkeypatch.setattr(MarketDataResource, "now", lambda self: now)
        result = dg.materialize(quotes, resources=sandbox.resources(live=True), partition_key="2026-10-06")
        return {k: v.value for k, v in result.asset_materializations_for_node("raw__option_quotes")[0]
                .metadata.items()}

    def stored() -> tuple[list, list]:
        conn = duckdb.connect(str(sandbox.warehouse), read_only=True)
        try:
            fetched = conn.execute("SELECT DISTINCT fetched_at FROM raw.option_quotes").fetchall()
            log = conn.execute("SELECT status, reason FROM raw.ingest_log WHERE table_name = "
                               "'raw.option_quotes' ORDER BY ingested_at").fetchall()
        finally:
            conn.close()
        return fetched, log

    first = run_at(eleven)
    assert first["status"] == "live" and first["final"] is False and first["reused"] is False
    second = run_at(eleven + timedelta(minutes=10))
    assert second["reused"] is True and second["reason"].startswith("cached: fetched 11:00")
    assert len(yahoo_calls) == 1
    fetched, log = stored()
    assert [row[0].astimezone(timezone.utc) for row in fetched] == [eleven]  # reused rows not rewritten
    assert [row[0] for row in log] == ["live", "live"] and log[1][1].startswith("cached:")
    third = run_at(eleven + timedelta(minutes=20))
    assert third["reused"] is False and len(yahoo_calls) == 2
