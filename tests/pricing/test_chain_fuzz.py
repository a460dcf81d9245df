"""Generated option quotes, good and bad, through `value_quotes`: every row valued, none dropped,
and every bad row says what is wrong.

Each example is a `raw.option_quotes`-shaped frame of 1..30 rows. Clean rows are priced by the
American kernel at a known vol (OTM, 7 days to 2.5 years) with a tight symmetric spread; each
other row carries one defect: NaN / null / zero / negative bid or ask, crossed, duplicated
contract, expiry in the past, today or on an exchange holiday, strike 0 / negative / NaN, a price
implying an IV above 10 or below intrinsic, missing / zero / negative underlying, huge or infinite
prices, an unknown right, missing vendor IV, no T-bill print yet, a stale last trade, a wide spread.

Properties, on every example:
- one output row per input row, the same contracts in the same multiset, the valuation schema;
- each row is either solved (iv_reason 0, 0 < iv <= MAX_PLAUSIBLE_IV, finite Greeks, and the IV
  reprices the mid) or not (iv_reason <> 0, iv and Greeks null, flag_iv_failed);
- the flags follow their documented definitions and `quality_flags` lists exactly those raised;
- each defect is named by its flag, note or reason (crossed -> flag_crossed, expired -> 'expired', ...);
- a clean row is solved back to its generating vol and carries no flag.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline.market import calendar, listing
from pipeline.market.quotes import QUOTES_SCHEMA
from pipeline.pricing import chain
from pipeline.pricing.api import GLD_EXPENSE_RATIO_Q, american_price

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 10, 7, 1, 0, tzinfo=timezone.utc)
DAYS = (date(2026, 10, 5), date(2026, 10, 6))
BEFORE_FIRST_RATE = date(2026, 8, 3)
RATE = 0.037
RATES = pl.DataFrame({"date": [date(2026, 8, 12)], "rate": [RATE]})
SPOT = 382.27
CLOSES = {date(2026, 10, 2): 380.0, DAYS[0]: 381.5, DAYS[1]: SPOT}
PRICES = pl.DataFrame({"date": list(CLOSES), "close": list(CLOSES.values())})
EXPIRIES = {day: [e for e in listing.gld_expiries(day)["expiry"].to_list() if 7 <= (e - day).days <= 900]
            for day in DAYS}
SHORT_EXPIRIES = {day: [e for e in expiries if (e - day).days <= 30] for day, expiries in EXPIRIES.items()}
NOT_SESSIONS = (date(2026, 11, 26), date(2026, 12, 25), date(2027, 1, 1), date(2026, 11, 21), date(2027, 3, 26))
GREEKS = ("delta", "gamma", "theta", "vega", "rho")
FLAGS = {flag.removeprefix("flag_") for flag in chain.FLAG_COLUMNS}

# defect -> what must name it: ("flag", name) a flag column, ("note", name) a quality_flags
# entry without a column, ("reason", {names}) iv_reason_name, ("bad_input",) shorthand.
DEFECTS: dict[str, tuple[tuple[Any, ...], ...]] = {
    "nan_bid": (("flag", "zero_bid"),), "null_bid": (("flag", "zero_bid"),), "zero_bid": (("flag", "zero_bid"),),
    "negative_bid": (("flag", "zero_bid"), ("reason", {"bad_input"})),
    "nan_ask": (("reason", {"bad_input"}),), "null_ask": (("reason", {"bad_input"}),),
    "zero_ask": (("reason", {"bad_input"}),), "negative_ask": (("reason", {"bad_input"}),),
    "crossed": (("flag", "crossed"),),
    "duplicate": (("note", "duplicate_contract"),),
    "expired_past": (("reason", {"expired"}),), "expires_today": (("reason", {"expired"}),),
    "expiry_not_session": (("note", "expiry_not_session"),),
    "strike_zero": (("reason", {"bad_input"}),), "strike_negative": (("reason", {"bad_input"}),),
    "strike_nan": (("reason", {"bad_input"}),),
    "iv_above_10": (("reason", {"iv_above_max", "above_upper_bound"}),),
    "below_intrinsic": (("reason", {"below_intrinsic"}),),
    "null_underlying": (("reason", {"bad_input"}),), "nan_underlying": (("reason", {"bad_input"}),),
    "zero_underlying": (("reason", {"bad_input"}),), "negative_underlying": (("reason", {"bad_input"}),),
    "huge_prices": (("reason", {"above_upper_bound", "bad_input", "iv_above_max"}),),
    "infinite_ask": (("reason", {"bad_input"}),),
    "unknown_right": (("reason", {"bad_input"}),),
    "nan_vendor_iv": (("flag", "no_vendor_iv"),), "null_vendor_iv": (("flag", "no_vendor_iv"),),
    "zero_vendor_iv": (("flag", "no_vendor_iv"),),
    "no_rate_yet": (("reason", {"bad_input"}),),
    "stale_last": (("flag", "stale_last"),),
    "wide_spread": (("flag", "wide_spread"),),
}


@dataclass(frozen=True)
class Spec:
    """One generated quote: a clean contract, and the defect applied to it ('clean' for none)."""

    defect: str
    day: date
    right: str
    expiry: date
    moneyness: float
    vol: float
    half_spread: float
    size: float  # how far a defect goes (a multiple or a magnitude, drawn per row)
    choice: int  # picks among variants of a defect (which holiday, which bad right, which row to copy)


@st.composite
def spec(draw: st.DrawFn) -> Spec:
    """An OTM contract at most 1.5 standard deviations from spot (so that its price identifies its
    vol), and a defect."""
    day = draw(st.sampled_from(DAYS))
    right = draw(st.sampled_from(["P", "C"]))
    expiry = draw(st.sampled_from(EXPIRIES[day]))
    vol = draw(st.floats(0.10, 0.60))
    reach = min(0.15, 1.5 * vol * math.sqrt((expiry - day).days / 365))
    distance = draw(st.floats(0.0, 1.0)) * reach
    return Spec(
        defect=draw(st.sampled_from(["clean"] * 6 + sorted(DEFECTS))),
        day=day, right=right, expiry=expiry, moneyness=1 - distance if right == "P" else 1 + distance,
        vol=vol, half_spread=draw(st.floats(0.001, 0.05)),
        size=draw(st.floats(0.01, 1.0)), choice=draw(st.integers(0, 1000)),
    )


def build_quotes(specs: list[Spec]) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """The quotes frame, and per row the clean values it was built from."""
    strike = np.array([SPOT * s.moneyness for s in specs])
    t = np.array([(s.expiry - s.day).days / 365 for s in specs])
    theo = american_price(np.array([s.right == "C" for s in specs]), np.array([CLOSES[s.day] for s in specs]),
                          strike, t, RATE, GLD_EXPENSE_RATIO_Q, np.array([s.vol for s in specs]))
    rows, truth = [], []
    for i, (s, k, price) in enumerate(zip(specs, strike, theo)):
        spot = CLOSES[s.day]
        row = {"snapshot_date": s.day, "symbol": "GLD", "contract": f"Q{i:03d}", "expiry": s.expiry,
               "option_right": s.right, "strike": float(k), "bid": price * (1 - s.half_spread),
               "ask": price * (1 + s.half_spread), "last": None, "volume": None, "open_interest": None,
               "vendor_iv": s.vol, "underlying_price": spot, "last_trade_at": None, "source": "yfinance",
               "fetched_at": NOW}
        damage(row, s, spot, rows)
        rows.append(row)
        truth.append({"spec": s, "theo": float(price)})
    return pl.DataFrame(rows, schema=QUOTES_SCHEMA), truth


def damage(row: dict[str, Any], s: Spec, spot: float, earlier: list[dict[str, Any]]) -> None:
    """Apply the spec's defect to a clean row (in place)."""
    d, x = s.defect, s.size
    if d == "nan_bid":
        row["bid"] = math.nan
    elif d == "null_bid":
        row["bid"] = None
    elif d == "zero_bid":
        row["bid"] = 0.0
    elif d == "negative_bid":
        row["bid"] = -x * 10
    elif d in ("nan_ask", "null_ask", "zero_ask", "negative_ask"):
        row["ask"] = {"nan_ask": math.nan, "null_ask": None, "zero_ask": 0.0, "negative_ask": -x * 10}[d]
    elif d == "crossed":
        row["bid"], row["ask"] = row["ask"] * (1 + x), row["bid"]
    elif d == "duplicate":
        if earlier:
            source = earlier[s.choice % len(earlier)]
            for key in ("snapshot_date", "contract", "expiry", "option_right", "strike"):
                row[key] = source[key]
    elif d == "expired_past":
        row["expiry"] = s.day - timedelta(days=1 + s.choice)
    elif d == "expires_today":
        row["expiry"] = s.day
    elif d == "expiry_not_session":
        row["expiry"] = NOT_SESSIONS[s.choice % len(NOT_SESSIONS)]
    elif d in ("strike_zero", "strike_negative", "strike_nan"):
        row["strike"] = {"strike_zero": 0.0, "strike_negative": -x * 500, "strike_nan": math.nan}[d]
    elif d == "iv_above_10":  # 7..30 days out and worth 90-99 % of the strike (put) or spot (call)
        row["expiry"] = SHORT_EXPIRIES[s.day][s.choice % len(SHORT_EXPIRIES[s.day])]
        row["bid"] = row["ask"] = (row["strike"] if s.right == "P" else spot) * (0.9 + 0.09 * x)
    elif d == "below_intrinsic":  # deep in the money, quoted under intrinsic value
        row["strike"] = spot * (1.3 if s.right == "P" else 0.7)
        row["bid"] = row["ask"] = abs(row["strike"] - spot) * (0.5 + 0.45 * x)
    elif d in ("null_underlying", "nan_underlying", "zero_underlying", "negative_underlying"):
        row["underlying_price"] = {"null_underlying": None, "nan_underlying": math.nan, "zero_underlying": 0.0,
                                   "negative_underlying": -spot}[d]
    elif d == "huge_prices":
        row["bid"], row["ask"] = 1e300 * x, 1e301 * x
    elif d == "infinite_ask":
        row["ask"] = math.inf
    elif d == "unknown_right":
        row["option_right"] = ["c", "p", "X", "", "PUT", "Call"][s.choice % 6]
    elif d in ("nan_vendor_iv", "null_vendor_iv", "zero_vendor_iv"):
        row["vendor_iv"] = {"nan_vendor_iv": math.nan, "null_vendor_iv": None, "zero_vendor_iv": 0.0}[d]
    elif d == "no_rate_yet":
        row["snapshot_date"] = BEFORE_FIRST_RATE
    elif d == "stale_last":
        row["last"] = row["ask"]
        row["last_trade_at"] = datetime.combine(s.day - timedelta(days=1 + s.choice % 5), datetime.min.time(),
                                                timezone.utc) + timedelta(hours=15)
    elif d == "wide_spread":
        row["bid"], row["ask"] = row["bid"] * (0.5 - 0.4 * x), row["ask"] * 1.5


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    strike = row["strike"]
    return (row["snapshot_date"], row["contract"], row["expiry"], row["option_right"],
            "nan" if strike is not None and math.isnan(strike) else strike)


def _missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def check_valuation(quotes: pl.DataFrame, valued: pl.DataFrame, use_prices: bool) -> list[dict[str, Any]]:
    """The properties every output must have, whatever the input; returns rows in input order."""
    assert valued.height == quotes.height
    assert valued.schema == pl.Schema(chain.VALUATION_SCHEMA)
    inputs = quotes.rows(named=True)
    assert Counter(map(_key, valued.iter_rows(named=True))) == Counter(map(_key, inputs))
    by_contract = {(r["snapshot_date"], r["contract"]): r for r in valued.iter_rows(named=True)}
    counts = Counter((r["snapshot_date"], r["contract"]) for r in inputs)
    out = []
    for quote in inputs:
        got = by_contract[(quote["snapshot_date"], quote["contract"])] if counts[
            (quote["snapshot_date"], quote["contract"])] == 1 else None
        if got is None:  # a duplicated contract: match on the quotes themselves
            got = next(r for r in valued.iter_rows(named=True) if _key(r) == _key(quote)
                       and _same(r["bid"], quote["bid"]) and _same(r["ask"], quote["ask"]))
        check_row(quote, got, duplicated=counts[(quote["snapshot_date"], quote["contract"])] > 1,
                  use_prices=use_prices)
        out.append(got)
    return out


def _same(a: float | None, b: float | None) -> bool:
    return (_missing(a) and _missing(b)) or a == b


def check_row(quote: dict[str, Any], got: dict[str, Any], *, duplicated: bool, use_prices: bool) -> None:
    """Solved or failed, never in between; flags as documented; an IV that reprices the mid."""
    reason = got["iv_reason_name"]
    if got["iv_reason"] == 0:
        assert reason == "ok"
        assert got["iv"] is not None and 0 < got["iv"] <= chain.MAX_PLAUSIBLE_IV, got
        assert all(got[g] is not None and math.isfinite(got[g]) for g in GREEKS), got
        assert got["option_right"] in ("C", "P") and got["strike"] > 0 and got["underlying_price"] > 0
        assert got["days_to_expiry"] > 0 and got["rate"] is not None
        assert got["mid"] is not None and 0 < got["mid"] < math.inf and got["ask"] > 0
        assert got["bid"] is None or got["bid"] >= 0
        repriced = american_price(got["option_right"] == "C", got["underlying_price"], got["strike"],
                                  got["t_years"], got["rate"], got["q"], got["iv"])
        assert float(repriced) == pytest.approx(got["mid"], rel=1e-6, abs=1e-8), got
        lower = -1.0 if got["option_right"] == "P" else 0.0
        assert lower - 1e-9 <= got["delta"] <= lower + 1 + 1e-9 and got["gamma"] >= -1e-12 and got["vega"] >= -1e-9
    else:
        assert reason in chain._REASON_NAMES.values() and reason != "ok"
        assert got["iv"] is None and all(got[g] is None for g in GREEKS), got
        assert got["flag_iv_failed"]
    bid = None if _missing(quote["bid"]) else quote["bid"]
    ask = None if _missing(quote["ask"]) else quote["ask"]
    assert got["flag_zero_bid"] == (bid is None or bid <= 0)
    assert got["flag_crossed"] == (bid is not None and ask is not None and ask < bid)
    assert got["flag_no_vendor_iv"] == (_missing(quote["vendor_iv"]) or quote["vendor_iv"] <= 0)
    assert got["flag_iv_failed"] == (got["iv_reason"] != 0)
    if got["mid"] is None:
        assert got["flag_wide_spread"]
    underlying = quote["underlying_price"]
    if _missing(underlying):
        expected = CLOSES.get(quote["snapshot_date"]) if use_prices else None
        assert got["underlying_price"] == expected, (got["underlying_price"], expected)
    else:
        assert got["underlying_price"] == underlying
    raised = [flag.removeprefix("flag_") for flag in chain.FLAG_COLUMNS if got[flag]]
    notes = [note for note, on in (("duplicate_contract", duplicated),
                                   ("expiry_not_session", calendar.closure_name(quote["expiry"]) is not None)) if on]
    assert got["quality_flags"] == ",".join(raised + notes), got


def check_defect_named(spec_: Spec, got: dict[str, Any], truth: dict[str, Any]) -> None:
    """The defect built into the row is named by its flag, note or reason."""
    if spec_.defect == "clean":
        if got["quality_flags"] in ("", "duplicate_contract"):
            # solved back to the vol that priced it (mid = model price exactly)
            assert got["iv"] == pytest.approx(spec_.vol, abs=1e-6), (got, truth)
            return
        raise AssertionError(f"a clean quote was flagged: {got['quality_flags']} {got}")
    for expectation in DEFECTS[spec_.defect]:
        kind, name = expectation
        if kind == "flag":
            assert got[f"flag_{name}"], (spec_.defect, got)
        elif kind == "note":
            assert name in got["quality_flags"].split(","), (spec_.defect, got)
        else:
            assert got["iv_reason_name"] in name, (spec_.defect, got["iv_reason_name"], got)


@FUZZ
@given(specs=st.lists(spec(), min_size=1, max_size=30), use_prices=st.booleans())
def test_every_quote_is_valued_once_and_every_defect_is_named(specs: list[Spec], use_prices: bool) -> None:
    """>= 300 generated chains mixing clean and broken quotes (see the module docstring)."""
    quotes, truth = build_quotes(specs)
    valued = chain.value_quotes(quotes, RATES, PRICES if use_prices else None)
    rows = check_valuation(quotes, valued, use_prices)
    for info, got in zip(truth, rows):
        s = info["spec"]
        event(s.defect)
        if s.defect == "duplicate" and not got["quality_flags"].count("duplicate_contract"):
            continue  # the first row has nothing to copy
        if use_prices and s.defect == "null_underlying" or use_prices and s.defect == "nan_underlying":
            assert got["underlying_price"] == CLOSES[s.day]  # filled from the closes: not a defect any more
            continue
        check_defect_named(s, got, info)


def test_frames_with_no_rows_or_no_rates_are_valued_not_refused() -> None:
    """An empty chain gives an empty valuation; a chain without any T-bill print is all bad_input."""
    quotes, _ = build_quotes([Spec("clean", DAYS[1], "P", EXPIRIES[DAYS[1]][3], 0.95, 0.2, 0.01, 0.5, 0)] * 3)
    quotes = quotes.with_columns(contract=pl.Series(["A", "B", "C"]))
    empty = chain.value_quotes(quotes.head(0), RATES)
    assert empty.height == 0 and empty.schema == pl.Schema(chain.VALUATION_SCHEMA)
    no_rates = chain.value_quotes(quotes, RATES.head(0))
    assert no_rates.height == 3 and (no_rates["iv_reason_name"] == "bad_input").all()
    assert no_rates["rate"].is_null().all() and no_rates["iv"].is_null().all()


def test_regressions_found_by_the_generator() -> None:
    """Silent wrong outputs of value_quotes before the fixes: each row was valued as if clean."""
    base = {"snapshot_date": DAYS[1], "symbol": "GLD", "expiry": date(2026, 11, 20), "option_right": "P",
            "strike": 380.0, "bid": 10.0, "ask": 10.4, "last": None, "volume": None, "open_interest": None,
            "vendor_iv": 0.25, "underlying_price": SPOT, "last_trade_at": None, "source": "yfinance",
            "fetched_at": NOW}
    cases = {
        "lowercase_call": ({"option_right": "c"}, "bad_input", "iv_failed"),  # was valued as a put
        "unknown_right": ({"option_right": "X"}, "bad_input", "iv_failed"),   # was valued as a put
        "negative_bid": ({"bid": -0.5}, "bad_input", "zero_bid,wide_spread,iv_failed"),  # IV from (-0.5 + 10.4) / 2
        "nan_vendor_iv": ({"vendor_iv": math.nan}, "ok", "no_vendor_iv"),  # NaN <= 0 is false: unflagged
        "nan_bid": ({"bid": math.nan}, "ok", "zero_bid,wide_spread"),  # NaN mid, unflagged
        "iv_14": ({"bid": 370.0, "ask": 372.0}, "iv_above_max", "iv_failed"),  # solved to 1,400 %, clean
        "thanksgiving": ({"expiry": date(2026, 11, 26)}, "ok", "expiry_not_session"),  # unflagged
    }
    rows = [{**base, **change, "contract": name} for name, (change, _, _) in cases.items()]
    rows.append({**base, "contract": "twice"})
    rows.append({**base, "contract": "twice", "bid": 9.0})
    valued = {r["contract"] + str(r["bid"]): r for r in
              chain.value_quotes(pl.DataFrame(rows, schema=QUOTES_SCHEMA), RATES).iter_rows(named=True)}
    got = {name: next(r for key, r in valued.items() if key.startswith(name)) for name in cases}
    for name, (_, reason, flags) in cases.items():
        assert (got[name]["iv_reason_name"], got[name]["quality_flags"]) == (reason, flags), (name, got[name])
    assert got["nan_bid"]["bid"] is None and got["nan_vendor_iv"]["vendor_iv"] is None
    assert [valued["twice10.0"]["quality_flags"], valued["twice9.0"]["quality_flags"]] == \
        ["duplicate_contract", "duplicate_contract"]
