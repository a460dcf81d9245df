"""Data-quality rules on small hand-made frames and on the real embedded history."""

from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl

from pipeline.market import embedded, quality

NOW = datetime(2026, 11, 20, 22, 0, tzinfo=timezone.utc)


def test_real_gld_history_has_no_missing_nyse_session():
    """GLD's file covers 5,504 sessions; Ford's funeral (2007-01-02) and Sandy (2012-10-29/30)
    are exchange closures the calendar knows, so they are not gaps."""
    dates = embedded.load_prices("GLD", NOW)["date"].to_list()
    result = quality.no_calendar_gaps(dates, "prices")
    assert result.passed and result.metadata["missing_sessions"] == 0


def test_a_removed_session_is_reported():
    dates = [d for d in embedded.load_prices("GLD", NOW)["date"].to_list() if d != date(2013, 4, 15)]
    result = quality.no_calendar_gaps(dates, "prices")
    assert not result.passed
    assert result.metadata["runs_too_long"] == ["2013-04-15..2013-04-15 (1)"]


def test_gvz_rows_on_closed_days_are_flagged_not_failed():
    dates = embedded.load_gvz(NOW)["date"].to_list()
    result = quality.no_calendar_gaps(dates, "gvz")
    assert result.passed
    assert result.metadata["rows_on_closed_days"] == ["2021-04-02", "2021-12-24"]


def test_rates_allow_single_missing_bond_sessions_only():
    dates = embedded.load_rates(NOW)["date"].to_list()
    result = quality.no_calendar_gaps(dates, "rates", since=quality.RATES_CHECKED_SINCE)
    assert result.passed and result.metadata["missing_sessions"] == 2  # 2012-10-30, 2018-12-05
    two_missing = [d for d in dates if d not in (date(2019, 3, 4), date(2019, 3, 5))]
    assert not quality.no_calendar_gaps(two_missing, "rates", since=quality.RATES_CHECKED_SINCE).passed


def test_implausible_values_are_named_by_date():
    prices = embedded.load_prices("GLD", NOW).head(5).with_columns(
        close=pl.when(pl.col("date") == date(2004, 11, 22)).then(0.0).otherwise(pl.col("close")))
    result = quality.plausible_values(prices, "prices", "raw.prices_daily")
    assert not result.passed and result.metadata["first_bad_dates"] == ["2004-11-22"]
    rates = embedded.load_rates(NOW).head(3).with_columns(rate=pl.lit(0.4))
    assert not quality.plausible_values(rates, "rates", "raw.rates_daily").passed


def test_freshness_passes_embedded_runs_but_fails_stale_live_ones():
    embedded_result = quality.freshness(date(2026, 10, 6), NOW, "embedded", "prices")
    assert embedded_result.passed and "live mode is off" in embedded_result.description
    assert embedded_result.metadata["sessions_behind"] == 33
    stale = quality.freshness(date(2026, 10, 6), NOW, "stale", "prices")
    assert not stale.passed
    assert quality.freshness(date(2026, 11, 20), NOW, "live", "prices").passed
