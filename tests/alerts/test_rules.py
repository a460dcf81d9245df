"""Alert rules and the state-change log."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline.alerts.rules import (
    ACTIVE_SCHEMA,
    AlertInputs,
    AlertThresholds,
    SelloffWindow,
    evaluate_alerts,
    headline,
    selloff_window,
)
from pipeline.alerts.state import ALERT_LOG_SCHEMA, conform_alert_log, empty_alert_log, update_alert_log

AS_OF = date(2026, 1, 30)
T0 = datetime(2026, 1, 30, 7, 0, tzinfo=timezone.utc)


def positions(*rows: tuple[str, int | None, str | None, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"position_id": pl.String, "dte": pl.Int64, "triage": pl.String, "triage_rule": pl.String},
        orient="row",
    )


def facts(ltv: float = 0.5, **overrides: object) -> AlertInputs:
    base: dict[str, object] = {
        "as_of": AS_OF,
        "ltv": ltv,
        "gld_close": 180.12,
        "margin_call_price": 178.5,
        "cure_amount": 12_345.0,
    }
    return AlertInputs(**(base | overrides))


def active_rules(inputs: AlertInputs) -> list[tuple[str, str]]:
    return evaluate_alerts(inputs).select("rule", "subject").rows()


# --- rules -----------------------------------------------------------------------------


def test_calm_facts_raise_nothing_and_keep_the_schema() -> None:
    active = evaluate_alerts(facts(0.5, positions=positions(("P-1", 30, "HOLD", "r0")), data_status={"gld": "ok"}))
    assert active.height == 0
    assert active.schema == ACTIVE_SCHEMA


@pytest.mark.parametrize(
    ("ltv", "expected"),
    [
        (0.6999, []),
        (0.70, ["ltv_warn"]),
        (0.7499, ["ltv_warn"]),
        (0.75, ["ltv_warn", "ltv_critical"]),
        (0.8999, ["ltv_warn", "ltv_critical"]),
        (0.90, ["ltv_warn", "ltv_critical", "ltv_liquidation"]),
        (1.2, ["ltv_warn", "ltv_critical", "ltv_liquidation"]),
    ],
)
def test_ltv_rules_fire_at_and_above_their_thresholds(ltv: float, expected: list[str]) -> None:
    assert [rule for rule, _ in active_rules(facts(ltv))] == expected


def test_ltv_critical_row_carries_the_numbers() -> None:
    active = evaluate_alerts(facts(0.762))
    row = active.filter(pl.col("rule") == "ltv_critical").row(0, named=True)
    assert row["subject"] == "portfolio"
    assert row["level"] == "critical"
    assert headline(row["message"]) == "LTV 76.2% >= 75.0% margin call (2026-01-30)"
    assert "GLD close 180.12" in row["message"]
    assert "margin-call price 178.50" in row["message"]
    assert "cure amount 12,345.00" in row["message"]
    assert json.loads(row["values"]) == {
        "ltv": 0.762,
        "threshold": 0.75,
        "date": "2026-01-30",
        "gld_close": 180.12,
        "margin_call_price": 178.5,
        "cure_amount": 12345.0,
    }
    levels = dict(active.select("rule", "level").rows())
    assert levels == {"ltv_warn": "warning", "ltv_critical": "critical"}


def test_ltv_alert_shows_the_hedged_view_when_hedges_are_held() -> None:
    """Loan 762k on 1M of GLD (LTV 76.2%) plus puts marked at 40k: hedged LTV = 762/1040 = 73.3%."""
    hedged = facts(0.762, hedge_value=40_000.0, hedged_ltv=0.762 / 1.04, hedged_margin_call_price=171.25)
    row = evaluate_alerts(hedged).filter(pl.col("rule") == "ltv_critical").row(0, named=True)
    assert row["message"].endswith("; with hedges worth 40,000.00: LTV 73.3%, margin-call price 171.25")
    assert json.loads(row["values"])["hedged_ltv"] == pytest.approx(0.732692, abs=1e-6)
    covered = facts(0.762, hedge_value=400_000.0, hedged_ltv=0.762 / 1.4, hedged_margin_call_price=None)
    message = evaluate_alerts(covered).filter(pl.col("rule") == "ltv_critical")["message"][0]
    assert message.endswith("LTV 54.4%, margin-call price covered by the hedges")
    unhedged = evaluate_alerts(facts(0.762)).filter(pl.col("rule") == "ltv_critical")["message"][0]
    assert "hedges" not in unhedged


def test_custom_thresholds_move_the_trigger_points() -> None:
    thresholds = AlertThresholds(ltv_warn=0.60, ltv_critical=0.65, ltv_liquidation=0.80)
    active = evaluate_alerts(facts(0.66, thresholds=thresholds))
    assert active["rule"].to_list() == ["ltv_warn", "ltv_critical"]
    assert headline(active["message"][0]) == "LTV 66.0% >= 60.0% warning level (2026-01-30)"


def test_thresholds_out_of_order_are_rejected_with_their_values() -> None:
    with pytest.raises(ValidationError, match="ltv_warn=0.8, ltv_critical=0.75"):
        AlertThresholds(ltv_warn=0.8)


def test_negative_ltv_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="ltv"):
        facts(-0.1)


def test_hedge_expiring_fires_for_0_lt_dte_le_window() -> None:
    held = positions(
        ("P-expired", 0, "HOLD", "r0"),
        ("P-1day", 1, "HOLD", "r0"),
        ("P-edge", 14, "HOLD", "r0"),
        ("P-far", 15, "HOLD", "r0"),
        ("P-unknown", None, "HOLD", "r0"),
    )
    active = evaluate_alerts(facts(positions=held))
    assert active.select("rule", "subject", "level").rows() == [
        ("hedge_expiring", "P-1day", "warning"),
        ("hedge_expiring", "P-edge", "warning"),
    ]
    values = json.loads(active.filter(pl.col("subject") == "P-edge")["values"][0])
    assert values == {"position_id": "P-edge", "dte": 14, "max_days": 14, "date": "2026-01-30"}
    assert headline(active["message"][0]) == "Hedge P-1day expires in 1 day(s) (<= 14) (2026-01-30)"


def test_hedge_expiry_window_is_configurable() -> None:
    held = positions(("P-440-2026-12-18", 20, "HOLD", "r0"))
    assert active_rules(facts(positions=held)) == []
    wide = AlertThresholds(hedge_expiry_days=21)
    assert active_rules(facts(positions=held, thresholds=wide)) == [("hedge_expiring", "P-440-2026-12-18")]


def test_hedge_triage_fires_for_roll_and_harvest_only() -> None:
    held = positions(
        ("P-a", 60, "ROLL", "delta_below_0.10"),
        ("P-b", 60, "harvest", "profit_over_50pct"),
        ("P-c", 60, "HOLD", "default"),
        ("P-d", 60, None, None),
    )
    active = evaluate_alerts(facts(positions=held))
    assert active.select("rule", "subject", "level").rows() == [
        ("hedge_triage", "P-a", "info"),
        ("hedge_triage", "P-b", "info"),
    ]
    values = json.loads(active["values"][1])
    assert values == {"position_id": "P-b", "triage": "HARVEST", "triage_rule": "profit_over_50pct", "date": "2026-01-30"}
    assert "ROLL" in active["message"][0] and "delta_below_0.10" in active["message"][0]


def test_a_position_can_be_expiring_and_triaged_at_once() -> None:
    held = positions(("P-440-2026-12-18", 3, "ROLL", "dte_under_7"))
    assert active_rules(facts(positions=held)) == [
        ("hedge_expiring", "P-440-2026-12-18"),
        ("hedge_triage", "P-440-2026-12-18"),
    ]


def test_data_stale_fires_per_unhealthy_source() -> None:
    status = {"gld_prices": "stale: last bar 2026-01-28", "fx": "OK", "options": "partial"}
    active = evaluate_alerts(facts(data_status=status))
    assert active.select("rule", "subject", "level").rows() == [
        ("data_stale", "gld_prices", "warning"),
        ("data_stale", "options", "warning"),
    ]
    assert json.loads(active["values"][0]) == {
        "source": "gld_prices",
        "status": "stale: last bar 2026-01-28",
        "date": "2026-01-30",
    }
    assert "stale: last bar 2026-01-28" in active["message"][0]


def test_positions_missing_columns_are_named() -> None:
    with pytest.raises(ValidationError, match="triage_rule"):
        facts(positions=pl.DataFrame({"position_id": ["P-1"], "dte": [3], "triage": ["ROLL"]}))


def test_duplicate_position_ids_are_named() -> None:
    with pytest.raises(ValidationError, match="P-1"):
        facts(positions=positions(("P-1", 3, "ROLL", "r"), ("P-1", 4, "HOLD", "r")))


# --- selloff ---------------------------------------------------------------------------


def trading_closes(*closes: float, last: date = AS_OF) -> pl.DataFrame:
    """`closes` on consecutive weekdays ending on `last` (weekends have no close, as on the exchange)."""
    days: list[date] = []
    day = last
    while len(days) < len(closes):
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return pl.DataFrame({"date": days[::-1], "close": list(closes)}, schema={"date": pl.Date, "close": pl.Float64})


def selloff_row(closes: pl.DataFrame, **thresholds: float) -> dict | None:
    """The active `selloff` row with its `values` decoded, or None when the rule is inactive."""
    active = evaluate_alerts(facts(closes=closes, thresholds=AlertThresholds(**thresholds)))
    rows = active.filter(pl.col("rule") == "selloff").to_dicts()
    assert len(rows) <= 1
    return rows[0] | {"values": json.loads(rows[0]["values"])} if rows else None


def test_a_drawdown_of_exactly_the_threshold_fires() -> None:
    """Closes Mon 26 .. Fri 30 Jan: 100, 97, 95, 93.5, 92. High 100 (26 Jan); 92 / 100 - 1 = -8.0 %,
    exactly the 8 % threshold, and the threshold is inclusive (<= -8 % fires). One day:
    92 / 93.5 - 1 = -1.604 %, far from the 4 % test, so only the drawdown fires. Five closes are
    fewer than the 60-day lookback: the high is taken over the five that exist."""
    row = selloff_row(trading_closes(100, 97, 95, 93.5, 92))
    assert row is not None
    assert (row["subject"], row["level"]) == ("GLD", "warning")
    assert headline(row["message"]) == "GLD selloff: -8.0% from its 5-day high (2026-01-30)"
    assert "peak close 100.00 on 2026-01-26, close 92.00 on 2026-01-30" in row["message"]
    assert "one-day change -1.6%" in row["message"]
    values = row["values"]
    assert values["drawdown"] == pytest.approx(-0.08, abs=1e-12)
    assert values["one_day_change"] == pytest.approx(-0.016043, abs=1e-6)
    assert {k: values[k] for k in ("peak_date", "peak_close", "close", "window_start", "window_end", "trading_days",
                                   "triggered_by", "thresholds")} == {
        "peak_date": "2026-01-26",
        "peak_close": 100.0,
        "close": 92.0,
        "window_start": "2026-01-26",
        "window_end": "2026-01-30",
        "trading_days": 5,
        "triggered_by": ["drawdown"],
        "thresholds": {"drawdown": 0.08, "lookback_days": 60, "one_day_fall": 0.04},
    }


def test_a_drawdown_just_short_of_the_threshold_is_calm() -> None:
    """100, 97, 95, 93.5, 92.01: 92.01 / 100 - 1 = -7.99 % (> -8 %); one day 92.01 / 93.5 - 1 = -1.59 %."""
    assert selloff_row(trading_closes(100, 97, 95, 93.5, 92.01)) is None


def test_a_one_day_fall_of_exactly_the_threshold_fires() -> None:
    """100, 99, 100, 96: one day 96 / 100 - 1 = -4.0 %, exactly the inclusive 4 % test; from the high
    only -4.0 % (< 8 %). The high 100 stands on Tue 27 and Thu 29: the later one is the peak."""
    row = selloff_row(trading_closes(100, 99, 100, 96))
    assert row is not None
    assert headline(row["message"]) == "GLD selloff: -4.0% in one day (2026-01-30)"
    assert row["values"]["triggered_by"] == ["one_day_fall"]
    assert row["values"]["peak_date"] == "2026-01-29"
    assert row["values"]["one_day_change"] == pytest.approx(-0.04, abs=1e-12)
    assert selloff_row(trading_closes(100, 99, 100, 96.01)) is None  # 96.01 / 100 - 1 = -3.99 %


def test_both_tests_firing_is_still_a_warning() -> None:
    """100, 95, 91: from the high 91 / 100 - 1 = -9.0 %; one day 91 / 95 - 1 = -4.21 %: both fire,
    the headline leads with the drawdown, the level stays warning (module docstring: why)."""
    row = selloff_row(trading_closes(100, 95, 91))
    assert row is not None
    assert row["level"] == "warning"
    assert row["values"]["triggered_by"] == ["drawdown", "one_day_fall"]
    assert headline(row["message"]) == "GLD selloff: -9.0% from its 3-day high (2026-01-30)"
    assert row["values"]["one_day_change"] == pytest.approx(91 / 95 - 1)


def test_a_high_older_than_the_lookback_is_ignored() -> None:
    """120, 100, 96, 93 with a 3-day lookback: the high of the last three closes is 100, so
    93 / 100 - 1 = -7.0 % (calm; one day 93 / 96 - 1 = -3.1 %). With 4 days the 120 counts:
    93 / 120 - 1 = -22.5 % from Tue 27 Jan."""
    closes = trading_closes(120, 100, 96, 93)
    assert selloff_row(closes, selloff_lookback_days=3) is None
    row = selloff_row(closes, selloff_lookback_days=4)
    assert row is not None
    assert row["values"]["drawdown"] == pytest.approx(-0.225)
    assert (row["values"]["peak_date"], row["values"]["trading_days"]) == ("2026-01-27", 4)


def test_the_lookback_counts_the_trading_days_in_the_data() -> None:
    """Closes Fri 23 Jan 100, Mon 26 95, Tue 27 96, Wed 28 95, Thu 29 94, Fri 30 92 (no weekend rows).
    Six trading days reach back to Fri 23 (7 calendar days): 92 / 100 - 1 = -8.0 % fires. Five reach
    back to Mon 26 only: high 96, 92 / 96 - 1 = -4.17 %, one day 92 / 94 - 1 = -2.13 %: calm."""
    closes = trading_closes(100, 95, 96, 95, 94, 92)
    assert closes["date"][0] == date(2026, 1, 23)
    row = selloff_row(closes, selloff_lookback_days=6)
    assert row is not None and row["values"]["peak_date"] == "2026-01-23"
    assert selloff_row(closes, selloff_lookback_days=5) is None


def test_the_helper_returns_the_window_the_rule_reports() -> None:
    """100, 95, 91.5 with a 60-day lookback: only 3 closes exist, all are used. High 100 on Wed 28;
    91.5 / 100 - 1 = -8.5 % fires; one day 91.5 / 95 - 1 = -3.684 % does not."""
    window = selloff_window(trading_closes(100, 95, 91.5), lookback_days=60, drawdown=0.08, one_day_fall=0.04)
    assert window == SelloffWindow(
        start=date(2026, 1, 28),
        end=AS_OF,
        peak_close=100.0,
        close=91.5,
        drawdown=pytest.approx(-0.085),
        one_day_change=pytest.approx(-0.036842, abs=1e-6),
        trading_days=3,
        triggered_by=("drawdown",),
    )
    unsorted = trading_closes(100, 95, 91.5).reverse()
    assert selloff_window(unsorted, 60, 0.08, 0.04) == window


def test_no_selloff_without_enough_closes() -> None:
    """No closes (the default) or a single close: nothing to fall from, and no previous day."""
    assert selloff_row(trading_closes()) is None
    assert active_rules(facts()) == []
    assert selloff_window(trading_closes(50), 60, 0.08, 0.04) is None


def test_closes_after_as_of_are_ignored() -> None:
    """Wed 28 .. Fri 30 Jan 100, 99, 98 (-2 %), then Mon 2 Feb 80: as of Fri 30 the fall to 80 has not happened."""
    closes = trading_closes(100, 99, 98, 80, last=date(2026, 2, 2))
    assert selloff_row(closes) is None
    later = evaluate_alerts(facts(as_of=date(2026, 2, 2), closes=closes))
    assert later.select("rule", "subject").rows() == [("selloff", "GLD")]


def test_the_subject_is_the_collateral_symbol() -> None:
    active = evaluate_alerts(facts(closes=trading_closes(100, 91), collateral_symbol="IAU"))
    assert active.select("rule", "subject").rows() == [("selloff", "IAU")]
    assert headline(active["message"][0]).startswith("IAU selloff: -9.0%")


@pytest.mark.parametrize(
    ("closes", "named"),
    [
        (pl.DataFrame({"date": [AS_OF]}), "close"),
        (pl.DataFrame({"date": [AS_OF, AS_OF], "close": [1.0, 2.0]}), "2026-01-30"),
        (pl.DataFrame({"date": [AS_OF], "close": [0.0]}), "positive"),
        (pl.DataFrame({"date": [None], "close": [1.0]}, schema={"date": pl.Date, "close": pl.Float64}), "a date"),
        (pl.DataFrame({"date": [AS_OF], "close": [float("nan")]}), "positive"),
    ],
)
def test_unusable_closes_are_rejected(closes: pl.DataFrame, named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        facts(closes=closes)


# --- state-change log -----------------------------------------------------------------


def condition(rule: str, subject: str = "portfolio", level: str = "warning", message: str = "m", values: str = "{}") -> dict:
    return {"rule": rule, "subject": subject, "level": level, "message": message, "values": values}


def active_set(*conditions: dict) -> pl.DataFrame:
    return pl.DataFrame(list(conditions), schema=ACTIVE_SCHEMA) if conditions else pl.DataFrame(schema=ACTIVE_SCHEMA)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_empty_log_has_the_exact_schema() -> None:
    log = empty_alert_log()
    assert log.height == 0
    assert log.schema == ALERT_LOG_SCHEMA
    assert log.schema["first_seen"] == pl.Datetime("us", "UTC")


def test_enter_refresh_leave_reenter() -> None:
    log = update_alert_log(empty_alert_log(), active_set(condition("ltv_warn", message="LTV 71%")), at(0))
    assert log.select("event", "delivery_status", "attempts").rows() == [("enter", "pending", 0)]
    assert log["alert_id"][0] == "ltv_warn|portfolio|2026-01-30T07:00:00+00:00"

    log = update_alert_log(log, active_set(condition("ltv_warn", message="LTV 72%", values='{"ltv": 0.72}')), at(24))
    assert log.height == 1
    assert log["message"][0] == "LTV 72%"
    assert log["values"][0] == '{"ltv": 0.72}'
    assert log["first_seen"][0] == at(0)
    assert log["last_seen"][0] == at(24)

    log = update_alert_log(log, active_set(), at(48))
    assert log.select("event", "first_seen", "last_seen", "delivery_status").rows() == [
        ("enter", at(0), at(24), "pending"),
        ("leave", at(0), at(48), "pending"),
    ]
    assert log["alert_id"][1] == "ltv_warn|portfolio|2026-01-30T07:00:00+00:00|leave"
    assert "no longer active" in log["message"][1] and "LTV 72%" in log["message"][1]

    log = update_alert_log(log, active_set(condition("ltv_warn")), at(72))
    assert log["event"].to_list() == ["enter", "leave", "enter"]
    assert log["first_seen"][2] == at(72)
    assert log.schema == ALERT_LOG_SCHEMA


def test_unchanged_rows_keep_their_delivery_bookkeeping() -> None:
    log = update_alert_log(empty_alert_log(), active_set(condition("ltv_warn")), at(0))
    sent = log.with_columns(delivery_status=pl.lit("sent"), attempts=pl.lit(1, pl.Int64), sent_at=pl.lit(at(0)))
    log = update_alert_log(sent, active_set(condition("ltv_warn")), at(1))
    assert log.select("delivery_status", "attempts", "sent_at").rows() == [("sent", 1, at(0))]


def test_cooldown_suppresses_a_quick_reentry_and_its_leave() -> None:
    cooldown = timedelta(hours=6)
    warn = active_set(condition("ltv_warn"))
    log = update_alert_log(empty_alert_log(), warn, at(0), cooldown)
    log = update_alert_log(log, active_set(), at(1), cooldown)
    log = update_alert_log(log, warn, at(6.99), cooldown)  # 5h59m after the leave
    log = update_alert_log(log, active_set(), at(8), cooldown)
    log = update_alert_log(log, warn, at(14), cooldown)  # exactly 6h after the leave: outside
    assert log.select("event", "delivery_status").rows() == [
        ("enter", "pending"),
        ("leave", "pending"),
        ("enter", "suppressed"),
        ("leave", "suppressed"),
        ("enter", "pending"),
    ]


def test_zero_cooldown_never_suppresses() -> None:
    warn = active_set(condition("ltv_warn"))
    log = update_alert_log(empty_alert_log(), warn, at(0))
    log = update_alert_log(log, active_set(), at(0.001))
    log = update_alert_log(log, warn, at(0.002))
    assert log["delivery_status"].to_list() == ["pending"] * 3


def test_subjects_are_tracked_independently() -> None:
    log = update_alert_log(
        empty_alert_log(),
        active_set(condition("hedge_expiring", "P-1"), condition("hedge_expiring", "P-2")),
        at(0),
    )
    log = update_alert_log(log, active_set(condition("hedge_expiring", "P-2")), at(24))
    assert log.select("subject", "event").rows() == [("P-1", "enter"), ("P-2", "enter"), ("P-1", "leave")]


def test_log_read_back_with_naive_or_other_zone_times_is_conformed() -> None:
    log = update_alert_log(empty_alert_log(), active_set(condition("ltv_warn")), at(0))
    naive = log.with_columns(pl.col("first_seen", "last_seen").dt.replace_time_zone(None))
    zurich = log.with_columns(pl.col("first_seen", "last_seen").dt.convert_time_zone("Europe/Zurich"))
    assert conform_alert_log(naive).equals(log)
    assert conform_alert_log(zurich).equals(log)


def test_log_survives_a_duckdb_round_trip() -> None:
    log = update_alert_log(empty_alert_log(), active_set(condition("ltv_warn")), at(0))
    log = update_alert_log(log, active_set(), at(1))
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("frame", log.to_arrow())
        con.execute("CREATE TABLE alerts AS SELECT * FROM frame")
        back = con.sql("SELECT * FROM alerts").pl()
    assert conform_alert_log(back).equals(log)


def test_naive_now_is_rejected_naming_now() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        update_alert_log(empty_alert_log(), active_set(), datetime(2026, 1, 30, 7))


def test_duplicate_active_conditions_are_rejected() -> None:
    with pytest.raises(ValueError, match="ltv_warn"):
        update_alert_log(empty_alert_log(), active_set(condition("ltv_warn"), condition("ltv_warn")), at(0))


def test_unknown_delivery_status_is_rejected_naming_column_and_value() -> None:
    log = update_alert_log(empty_alert_log(), active_set(condition("ltv_warn")), at(0))
    with pytest.raises(ValueError, match=r"delivery_status has values \['mailed'\]"):
        update_alert_log(log.with_columns(delivery_status=pl.lit("mailed")), active_set(), at(1))


def test_reusing_a_timestamp_for_a_new_episode_is_refused() -> None:
    warn = active_set(condition("ltv_warn"))
    log = update_alert_log(empty_alert_log(), warn, at(0))
    log = update_alert_log(log, active_set(), at(0))
    with pytest.raises(ValueError, match="clock must advance"):
        update_alert_log(log, warn, at(0))


KEYS = [(rule, subject) for rule in ("ltv_warn", "hedge_expiring") for subject in ("portfolio", "P-1", "P-2")]


@settings(max_examples=75, deadline=None)
@given(
    runs=st.lists(st.sets(st.sampled_from(KEYS)), min_size=1, max_size=12),
    cooldown_hours=st.integers(min_value=0, max_value=5),
)
def test_log_has_one_row_per_state_change(runs: list[set[tuple[str, str]]], cooldown_hours: int) -> None:
    log = empty_alert_log()
    for step, keys in enumerate(runs):
        previous = log
        log = update_alert_log(
            log, active_set(*(condition(rule, subject) for rule, subject in sorted(keys))), at(step), timedelta(hours=cooldown_hours)
        )
        assert log.head(previous.height)["alert_id"].equals(previous["alert_id"]), "rows were lost or reordered"
        again = update_alert_log(log, active_set(*(condition(r, s) for r, s in sorted(keys))), at(step))
        assert again.equals(log), "re-running the same state at the same time must change nothing"

    assert log["alert_id"].is_unique().all()
    for key in KEYS:
        events = log.filter((pl.col("rule") == key[0]) & (pl.col("subject") == key[1]))["event"].to_list()
        presence = [False] + [key in keys for keys in runs]
        changes = sum(before != after for before, after in zip(presence, presence[1:]))
        assert len(events) == changes
        assert events == ["enter", "leave"] * (changes // 2) + ["enter"] * (changes % 2)
