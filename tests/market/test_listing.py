"""GLD listing pattern, checked against hand-worked calendars (not against the code's own rules)."""

from datetime import date

import numpy as np
import pytest

from pipeline.market import calendar
from pipeline.market.listing import gld_expiries, gld_strikes, third_friday


@pytest.mark.parametrize(("year", "month", "expected"), [
    (2026, 10, date(2026, 10, 16)),  # Oct 1 is a Thursday: Fridays 2, 9, 16
    (2027, 1, date(2027, 1, 15)),    # Jan 1 2027 is a Friday: 1, 8, 15
    (2026, 6, date(2026, 6, 19)),    # Juneteenth (exchange holiday) - moved by gld_expiries
    (2028, 1, date(2028, 1, 21)),
])
def test_third_friday(year: int, month: int, expected: date) -> None:
    assert third_friday(year, month) == expected


def test_holiday_fridays_move_to_thursday() -> None:
    """Christmas 2026 and New Year 2027 fall on Fridays: those weeklies expire on Thursdays."""
    expiries = gld_expiries(date(2026, 12, 18))
    first = expiries["expiry"].to_list()[:2]
    assert first == [date(2026, 12, 24), date(2026, 12, 31)]
    assert expiries["nominal"].to_list()[:2] == [date(2026, 12, 25), date(2027, 1, 1)]
    # Juneteenth 2026 (Friday): the June monthly is Thursday 2026-06-18
    june = gld_expiries(date(2026, 5, 1)).filter(expiry_type="monthly")["expiry"].to_list()
    assert date(2026, 6, 18) in june and date(2026, 6, 19) not in june


def test_listing_on_the_last_data_day() -> None:
    """2026-10-06 (Tuesday): weeklies 10-09 .. 12-04, monthlies Oct/Nov/Dec, quarterlies
    Mar/Jun/Sep 2027 (June 18 2027 is Juneteenth -> Thursday 17), LEAPS Jan 2027/2028/2029."""
    frame = gld_expiries(date(2026, 10, 6))
    by_type = {kind: frame.filter(expiry_type=kind)["expiry"].to_list()
               for kind in ("weekly", "monthly", "quarterly", "leaps")}
    assert by_type["monthly"] == [date(2026, 10, 16), date(2026, 11, 20), date(2026, 12, 18)]
    assert by_type["quarterly"] == [date(2027, 3, 19), date(2027, 6, 17), date(2027, 9, 17)]
    assert by_type["leaps"] == [date(2027, 1, 15), date(2028, 1, 21), date(2029, 1, 19)]
    assert by_type["weekly"] == [date(2026, 10, 9), date(2026, 10, 23), date(2026, 10, 30),
                                 date(2026, 11, 6), date(2026, 11, 13), date(2026, 11, 27),
                                 date(2026, 12, 4)]
    days = frame["expiry"].to_list()
    assert days == sorted(set(days))
    sessions = set(calendar.sessions(min(days), max(days)))
    assert all(day in sessions and day > date(2026, 10, 6) for day in days)


def test_same_day_expiry_is_not_listed() -> None:
    assert date(2026, 10, 16) not in gld_expiries(date(2026, 10, 16))["expiry"].to_list()


def test_strikes_steps_and_range() -> None:
    near = gld_strikes(412.3, 10 / 365, 0.20)
    fine = near[(near >= 412.3 * 0.9) & (near <= 412.3 * 1.1)]
    assert np.all(np.diff(fine) == 1.0)           # $1 near the money
    outer = near[near < 412.3 * 0.9]
    assert np.all(outer % 5 == 0)                  # $5 away from it
    far = gld_strikes(412.3, 2.3, 0.20)
    assert np.all(far % 5 == 0)                    # LEAPS: $5 only
    assert far.min() >= 412.3 * 0.5 and far.max() <= 412.3 * 1.6
    assert far.min() < near.min() and far.max() > near.max()  # wider with tenor
    assert np.all(np.diff(gld_strikes(38.0, 0.1, 0.2)) <= 1.0)


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan")])
def test_strikes_reject_bad_spot(bad: float) -> None:
    with pytest.raises(ValueError, match="spot"):
        gld_strikes(bad, 0.1, 0.2)
