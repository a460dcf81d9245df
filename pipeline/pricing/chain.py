"""Option chains as frames: the offline model chain, and valuing any quotes frame.

- `model_chain(...)`: GLD's listing pattern (pipeline/market/listing.py) priced with the skew model
  (pipeline/pricing/skew.py) as American options, with a bid/ask spread model. Every row has
  `source = 'model'`; these are not market quotes and are never shown as such.
- `value_quotes(...)`: the frame layer over the pricing kernels. Mid, spread, own American IV from
  the mid, all Greeks at that IV, days to expiry, moneyness and quality flags, for every row of a
  `raw.option_quotes`-shaped frame. Bad rows are kept and flagged, never dropped.

Kernels are called once per frame on flat NumPy arrays; nothing here loops over rows.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import polars as pl

from pipeline.market import calendar, listing
from pipeline.market.quotes import QUOTES_SCHEMA
from pipeline.pricing.api import (GLD_EXPENSE_RATIO_Q, IVReason, american_greeks, american_price,
                                  implied_vol)
from pipeline.pricing.skew import skew_vol

MODEL_SOURCE = "model"
DAYS_PER_YEAR = 365.0

# ---- spread model (docs/chain_model.md) ------------------------------------------------------
# full spread = SPREAD_FIXED + SPREAD_PROPORTIONAL * theo * (1 + SPREAD_TENOR_SLOPE * t); bid
# rounded down and ask rounded up to the tick ($0.01 below $3, $0.05 from $3: GLD is in the
# penny interval program). Options worth under half a tick quote 0 bid / 1 tick ask.
SPREAD_FIXED = 0.02
SPREAD_PROPORTIONAL = 0.02
SPREAD_TENOR_SLOPE = 0.5
PENNY_LIMIT = 3.0
TICK_SMALL, TICK_LARGE = 0.01, 0.05

# ---- quality thresholds ---------------------------------------------------------------------
WIDE_SPREAD_PCT = 0.25   # (ask - bid) / mid above this is flagged
FLAG_COLUMNS = ("flag_zero_bid", "flag_crossed", "flag_wide_spread", "flag_stale_last",
                "flag_no_vendor_iv", "flag_iv_failed")
# Named in `quality_flags` only (no column of their own): the same contract quoted twice in one
# snapshot, and an expiry that is not an NYSE session (a listed GLD option expires on one).
NOTE_NAMES = ("duplicate_contract", "expiry_not_session")
# A solved IV above this (1,000 %/yr) comes from an absurd quote, not from GLD: kept out of the
# surface like any failed IV, with its own reason code beside IVReason's.
MAX_PLAUSIBLE_IV = 10.0
IV_ABOVE_MAX = 6
# Inputs where NaN means "not quoted", as null does (a NaN bid is no bid, a NaN vendor IV none).
NAN_IS_MISSING = ("bid", "ask", "last", "vendor_iv", "underlying_price")
# Expiries outside these years are not looked up in the exchange calendar (and are flagged).
CALENDAR_YEARS = (1900, 2200)



def occ_contract(symbol: pl.Expr, expiry: pl.Expr, right: pl.Expr, strike: pl.Expr) -> pl.Expr:
    """OCC option symbol: root + yymmdd + C/P + strike x 1000 in 8 digits (GLD261016P00400000)."""
    return pl.concat_str(
        symbol, expiry.dt.strftime("%y%m%d"), right,
        (strike * 1000).round(0).cast(pl.Int64).cast(pl.Utf8).str.zfill(8),
    )


def _tick(price: np.ndarray) -> np.ndarray:
    return np.where(price < PENNY_LIMIT, TICK_SMALL, TICK_LARGE)


def model_bid_ask(theo: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask around model prices `theo` (USD) of options `t` years out (spread model).

    theo 10.00, t 0.25: spread = 0.02 + 0.02*10*1.125 = 0.245 -> 9.8775 .. 10.1225, ticks 0.05
    -> bid 9.85, ask 10.15.

    >>> bid, ask = model_bid_ask(np.array([10.0, 0.004]), np.array([0.25, 0.25]))
    >>> bid.tolist(), ask.tolist()
    ([9.85, 0.0], [10.15, 0.01])
    """
    theo = np.asarray(theo, dtype=np.float64)
    spread = SPREAD_FIXED + SPREAD_PROPORTIONAL * theo * (1.0 + SPREAD_TENOR_SLOPE * np.asarray(t))
    low, high = theo - spread / 2, theo + spread / 2
    bid = np.floor(np.round(low / _tick(low), 6)) * _tick(low)
    ask = np.ceil(np.round(high / _tick(high), 6)) * _tick(high)
    worthless = theo < TICK_SMALL / 2
    bid = np.where(worthless, 0.0, np.maximum(bid, 0.0))
    ask = np.where(worthless, TICK_SMALL, np.maximum(ask, TICK_SMALL))
    return np.round(bid, 2), np.round(ask, 2)


def model_chain(as_of: date, spot: float, atm_vol: float, rate: float, fetched_at: datetime,
                q: float = GLD_EXPENSE_RATIO_Q, symbol: str = "GLD") -> pl.DataFrame:
    """A model snapshot of the GLD chain on `as_of` in the `raw.option_quotes` layout.

    Expiries and strikes follow GLD's listing pattern; each contract is priced as an American
    option at `skew_vol(atm_vol, K/S, t)` (stored in `vendor_iv`), with bid/ask from the spread
    model. last/volume/open_interest are null: the model has no trades.
    """
    for name, value in (("spot", spot), ("atm_vol", atm_vol)):
        if not (value is not None and np.isfinite(value) and value > 0):
            raise ValueError(f"model_chain: {name} must be a positive number, got {value!r}")
    if rate is None or not np.isfinite(rate):
        raise ValueError(f"model_chain: rate must be a finite number, got {rate!r}")
    expiries = listing.gld_expiries(as_of)
    parts = []
    for expiry in expiries["expiry"].to_list():
        t = (expiry - as_of).days / DAYS_PER_YEAR
        strikes = listing.gld_strikes(spot, t, atm_vol)
        parts.append(pl.DataFrame({"expiry": [expiry] * len(strikes), "strike": strikes}))
    grid = pl.concat(parts).join(pl.DataFrame({"option_right": ["P", "C"]}), how="cross")
    t = grid.select((pl.col("expiry") - pl.lit(as_of)).dt.total_days()).to_series().to_numpy() / DAYS_PER_YEAR
    strike = grid["strike"].to_numpy()
    is_call = (grid["option_right"] == "C").to_numpy()
    vol = skew_vol(atm_vol, strike / spot, t)
    theo = american_price(is_call, spot, strike, t, rate, q, vol)
    bid, ask = model_bid_ask(theo, t)
    frame = grid.with_columns(
        snapshot_date=pl.lit(as_of, dtype=pl.Date),
        symbol=pl.lit(symbol),
        bid=pl.Series(bid), ask=pl.Series(ask),
        last=pl.lit(None, dtype=pl.Float64),
        volume=pl.lit(None, dtype=pl.Int64),
        open_interest=pl.lit(None, dtype=pl.Int64),
        vendor_iv=pl.Series(vol),
        underlying_price=pl.lit(float(spot)),
        last_trade_at=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
        source=pl.lit(MODEL_SOURCE),
        fetched_at=pl.lit(fetched_at, dtype=pl.Datetime("us", "UTC")),
    ).with_columns(
        contract=occ_contract(pl.col("symbol"), pl.col("expiry"), pl.col("option_right"),
                              pl.col("strike")),
    )
    return frame.select(list(QUOTES_SCHEMA)).cast(QUOTES_SCHEMA).sort("expiry", "option_right",
                                                                       "strike")


def model_chain_inputs(day: date, prices: pl.DataFrame, atm: pl.DataFrame,
                       rates: pl.DataFrame) -> dict[str, object]:
    """Spot, ATM vol and rate for a model chain on `day`: each the last value on or before `day`.

    prices: GLD closes (`raw.prices_daily`), atm: `skew.atm_vol_daily` output, rates:
    `raw.rates_daily`. The dates actually used are returned beside the values.
    """
    def last(frame: pl.DataFrame, column: str, what: str) -> tuple[object, date]:
        known = frame.filter(pl.col("date") <= day).sort("date")
        if known.is_empty() or known[column].drop_nulls().is_empty():
            first = frame["date"].min() if frame.height else None
            raise ValueError(f"model chain for {day}: no {what} on or before that day "
                             f"(first {what} date: {first})")
        row = known.drop_nulls(column).row(-1, named=True)
        return row[column], row["date"]

    spot, spot_date = last(prices, "close", "GLD close")
    atm_vol, atm_date = last(atm, "atm_vol", "ATM vol")
    rate, rate_date = last(rates, "rate", "T-bill rate")
    source = atm.filter(pl.col("date") == atm_date).row(0, named=True)
    return {"spot": float(spot), "spot_date": spot_date, "atm_vol": float(atm_vol),
            "atm_vol_source": source["atm_vol_source"], "atm_vol_age_days": source["atm_vol_age_days"],
            "rate": float(rate), "rate_date": rate_date}


def _asof(frame: pl.DataFrame, table: pl.DataFrame, value: str, alias: str) -> pl.DataFrame:
    """Attach `table[value]` as of each snapshot_date (last row with date <= snapshot_date)."""
    right = (table.select(pl.col("date").cast(pl.Date).alias(f"{alias}_date"),
                          pl.col(value).cast(pl.Float64).alias(alias))
             .drop_nulls().sort(f"{alias}_date"))
    return frame.sort("snapshot_date").join_asof(
        right, left_on="snapshot_date", right_on=f"{alias}_date", strategy="backward")


def snapshot_days_to_value(quoted: pl.DataFrame, valued: pl.DataFrame) -> tuple[list[date], list[date]]:
    """(days to (re)value, days to drop) from per-day summaries of quotes and valuations.

    Both frames: snapshot_date, fetched_at (max per day), rows. A day is (re)valued when its
    quotes are new or were replaced since it was valued (different fetched_at or row count);
    valuations of days no longer quoted are dropped.
    """
    key = ["snapshot_date", "fetched_at", "rows"]
    fresh = quoted.select(key).join(valued.select(key), on=key, how="anti")
    gone = valued.join(quoted, on="snapshot_date", how="anti")
    return sorted(fresh["snapshot_date"].to_list()), sorted(gone["snapshot_date"].to_list())


_REASON_NAMES = {int(member): member.name.lower() for member in IVReason} | {IV_ABOVE_MAX: "iv_above_max"}


def _not_sessions(expiries: pl.Series) -> set[date]:
    """The distinct expiries that are not NYSE sessions (or too far out to look up)."""
    first, last = CALENDAR_YEARS
    return {day for day in expiries.drop_nulls().unique().to_list()
            if not first <= day.year <= last or calendar.session_hours(day) is None}


def value_quotes(quotes: pl.DataFrame, rates: pl.DataFrame, prices: pl.DataFrame | None = None,
                 q: float = GLD_EXPENSE_RATIO_Q) -> pl.DataFrame:
    """Value every quote: the `analytics.option_valuations` layout, one row per input row.

    quotes: `raw.option_quotes` layout. A `q` column, when present, overrides the `q` argument
    per row (e.g. a parity-implied carry per expiry); otherwise `q` applies to every row.
    rates: `raw.rates_daily` layout; the rate used is the last print on or before the snapshot
    day (rate_age_days says how old). prices: `raw.prices_daily` rows of the underlying, used
    only where `underlying_price` is null (close as of the snapshot day).

    Bad rows are kept and say what is wrong: NaN in a quote column counts as missing; a negative
    bid or ask, or a right other than 'C'/'P', gives iv_reason bad_input; a solved IV above
    MAX_PLAUSIBLE_IV gives iv_reason IV_ABOVE_MAX ('iv_above_max'); `quality_flags` also names a
    contract quoted twice in a snapshot and an expiry that is not an NYSE session (NOTE_NAMES).
    """
    frame = quotes.with_columns(pl.col(column).fill_nan(None) for column in NAN_IS_MISSING)
    if "q" not in frame.columns:
        frame = frame.with_columns(q=pl.lit(q, dtype=pl.Float64))
    frame = _asof(frame, rates, "rate", "rate")
    if prices is not None and frame["underlying_price"].null_count():
        frame = _asof(frame, prices, "close", "close").with_columns(
            underlying_price=pl.coalesce("underlying_price", "close")).drop("close", "close_date")
    frame = frame.with_columns(
        days_to_expiry=(pl.col("expiry") - pl.col("snapshot_date")).dt.total_days().cast(pl.Int32),
        rate_age_days=(pl.col("snapshot_date") - pl.col("rate_date")).dt.total_days().cast(pl.Int32),
    ).with_columns(
        t_years=pl.col("days_to_expiry").cast(pl.Float64) / DAYS_PER_YEAR,
        moneyness=pl.col("strike") / pl.col("underlying_price"),
        # no mid without a positive ask, or with a negative bid (0 or null = no bid)
        mid=pl.when((pl.col("ask") > 0) & (pl.col("bid").fill_null(0.0) >= 0))
        .then((pl.col("bid").fill_null(0.0) + pl.col("ask")) / 2),
    ).with_columns(
        spread_pct=(pl.col("ask") - pl.col("bid")) / pl.col("mid"),
    )

    n = frame.height
    mid = frame["mid"].fill_null(np.nan).to_numpy()
    is_call = (frame["option_right"] == "C").to_numpy()
    spot = frame["underlying_price"].fill_null(np.nan).to_numpy()
    strike = frame["strike"].to_numpy()
    t = frame["t_years"].to_numpy()
    rate = frame["rate"].fill_null(np.nan).to_numpy()
    carry = frame["q"].fill_null(np.nan).to_numpy()
    vol, reason = implied_vol(mid, is_call, spot, strike, t, rate, carry, american=True)
    vol = np.asarray(vol, dtype=np.float64)
    reason = np.asarray(reason, dtype=np.int8)
    # a right other than 'C'/'P' would otherwise be valued as a put
    known_right = frame["option_right"].is_in(["C", "P"]).fill_null(False).to_numpy()
    reason = np.where(known_right, reason, np.int8(IVReason.BAD_INPUT))
    reason = np.where((reason == int(IVReason.OK)) & (vol > MAX_PLAUSIBLE_IV), np.int8(IV_ABOVE_MAX), reason)
    ok = (reason == int(IVReason(0))) & np.isfinite(vol)
    greeks = {name: np.full(n, np.nan) for name in ("delta", "gamma", "theta", "vega", "rho")}
    if ok.any():
        solved = american_greeks(is_call[ok], spot[ok], strike[ok], t[ok], rate[ok], carry[ok], vol[ok])
        for name in greeks:
            greeks[name][ok] = np.asarray(getattr(solved, name))

    def nullable(values: np.ndarray) -> pl.Series:
        return pl.Series(values).fill_nan(None)

    frame = frame.with_columns(
        iv=nullable(np.where(ok, vol, np.nan)),
        iv_reason=pl.Series(reason, dtype=pl.Int8),
        iv_reason_name=pl.Series([_REASON_NAMES.get(int(code), f"code_{int(code)}") for code in reason],
                                 dtype=pl.Utf8),
        **{name: nullable(values) for name, values in greeks.items()},
    )
    trade_day = pl.col("last_trade_at").dt.convert_time_zone("America/New_York").dt.date()
    frame = frame.with_columns(
        flag_zero_bid=pl.col("bid").fill_null(0.0) <= 0,
        flag_crossed=(pl.col("ask") < pl.col("bid")).fill_null(False),
        flag_wide_spread=(pl.col("spread_pct") > WIDE_SPREAD_PCT).fill_null(True),
        # a last price that was not traded on the snapshot day (no last price at all: not stale)
        flag_stale_last=pl.when(pl.col("last").is_null()).then(False)
        .when(pl.col("last_trade_at").is_not_null()).then(trade_day < pl.col("snapshot_date"))
        .otherwise(pl.col("volume").fill_null(0) <= 0),
        flag_no_vendor_iv=pl.col("vendor_iv").fill_null(0.0) <= 0,
        flag_iv_failed=pl.col("iv_reason") != 0,
        duplicate_contract=pl.len().over("snapshot_date", "contract") > 1,
        expiry_not_session=pl.col("expiry").is_in(sorted(_not_sessions(frame["expiry"]))).fill_null(False),
    )
    frame = frame.with_columns(
        quality_flags=pl.concat_str(
            [pl.when(pl.col(flag)).then(pl.lit(flag.removeprefix("flag_"))) for flag in FLAG_COLUMNS]
            + [pl.when(pl.col(note)).then(pl.lit(note)) for note in NOTE_NAMES],
            separator=",", ignore_nulls=True,
        ).fill_null(""),
    )
    return (frame.select(VALUATION_COLUMNS).cast(VALUATION_SCHEMA)
            .sort("snapshot_date", "expiry", "option_right", "strike"))


_F, _S = pl.Float64, pl.Utf8
VALUATION_SCHEMA = {
    "snapshot_date": pl.Date, "symbol": _S, "contract": _S, "expiry": pl.Date, "option_right": _S,
    "strike": _F, "source": _S, "underlying_price": _F, "rate": _F, "rate_age_days": pl.Int32,
    "q": _F, "days_to_expiry": pl.Int32, "t_years": _F, "moneyness": _F, "bid": _F, "ask": _F,
    "mid": _F, "spread_pct": _F, "last": _F, "volume": pl.Int64, "open_interest": pl.Int64,
    "vendor_iv": _F, "iv": _F, "iv_reason": pl.Int8, "iv_reason_name": _S, "delta": _F,
    "gamma": _F, "theta": _F, "vega": _F, "rho": _F, **{flag: pl.Boolean for flag in FLAG_COLUMNS},
    "quality_flags": _S, "fetched_at": pl.Datetime("us", "UTC"),
}
VALUATION_COLUMNS = list(VALUATION_SCHEMA)
