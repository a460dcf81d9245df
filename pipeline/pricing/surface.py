"""Daily vol surface summary: ATM IV at fixed tenors, 25-delta put skew, realised vol, VRP.

Per day and expiry (or synthetic tenor):
- ATM IV: OTM options only (puts at K <= S, calls at K >= S), IV interpolated linearly in
  ln(K/S) between the nearest strikes either side of spot (ATM = strike at spot). A side with
  no usable strike leaves that expiry without an ATM IV unless the nearest strike is within
  ATM_ONE_SIDED_BAND of spot.
- 25-delta put IV: IV interpolated linearly in delta between the puts either side of -0.25.
Across expiries: total variance w = iv^2 t interpolated linearly in t to 30/60/90/180/365 days;
outside the covered tenors the vol is held flat (min/max_tenor_days show the covered range).
Expiries under MIN_TENOR_DAYS are left out (their IVs are dominated by noise and events).
Chain rows are usable when the IV solved (iv_reason 0), the quote is not crossed and has a bid.
Days without a chain snapshot use the synthetic chain (GVZ level + the skew model), named in
`iv_source`; realised vol is from GLD closes (log returns, ddof 1, x sqrt(252)).
"""

from __future__ import annotations

import polars as pl

from pipeline.pricing.skew import realised_vol

TARGET_DAYS = (30, 60, 90, 180, 365)
SKEW_TARGET_DAYS = 30
PUT_DELTA = -0.25
MIN_TENOR_DAYS = 7
ATM_ONE_SIDED_BAND = 0.01
DAYS_PER_YEAR = 365.0


def _expiry_points(points: pl.DataFrame) -> pl.DataFrame:
    """(date, t) -> atm_iv, put25_iv from rows: date, t_years, moneyness, option_right, iv, delta."""
    x = pl.col("moneyness").log()
    otm = ((pl.col("option_right") == "P") & (pl.col("moneyness") <= 1)) | (
        (pl.col("option_right") == "C") & (pl.col("moneyness") >= 1))
    below = otm & (pl.col("moneyness") <= 1)
    above = otm & (pl.col("moneyness") >= 1)
    put = pl.col("option_right") == "P"
    low_d = put & (pl.col("delta") <= PUT_DELTA)
    high_d = put & (pl.col("delta") > PUT_DELTA)
    agg = points.group_by("date", "t_years").agg(
        x_lo=x.filter(below).max(),
        iv_lo=pl.col("iv").filter(below).sort_by(x.filter(below)).last(),
        x_hi=x.filter(above).min(),
        iv_hi=pl.col("iv").filter(above).sort_by(x.filter(above)).first(),
        d_lo=pl.col("delta").filter(low_d).max(),
        piv_lo=pl.col("iv").filter(low_d).sort_by(pl.col("delta").filter(low_d)).last(),
        d_hi=pl.col("delta").filter(high_d).min(),
        piv_hi=pl.col("iv").filter(high_d).sort_by(pl.col("delta").filter(high_d)).first(),
    )
    both = pl.col("x_lo").is_not_null() & pl.col("x_hi").is_not_null()
    span = pl.col("x_hi") - pl.col("x_lo")
    d_span = pl.col("d_hi") - pl.col("d_lo")
    return agg.select(
        "date", "t_years",
        atm_iv=pl.when(both & (span > 0))
        .then(pl.col("iv_lo") + (pl.col("iv_hi") - pl.col("iv_lo")) * (-pl.col("x_lo")) / span)
        .when(both).then((pl.col("iv_lo") + pl.col("iv_hi")) / 2)
        .when(pl.col("x_lo").is_not_null() & (pl.col("x_lo") >= -ATM_ONE_SIDED_BAND)).then("iv_lo")
        .when(pl.col("x_hi").is_not_null() & (pl.col("x_hi") <= ATM_ONE_SIDED_BAND)).then("iv_hi"),
        put25_iv=pl.when(pl.col("d_lo").is_not_null() & pl.col("d_hi").is_not_null() & (d_span > 0))
        .then(pl.col("piv_lo") + (pl.col("piv_hi") - pl.col("piv_lo"))
              * (PUT_DELTA - pl.col("d_lo")) / d_span),
    )


def _interpolate(points: pl.DataFrame, value: str, days: int) -> pl.DataFrame:
    """date -> `value` at `days`, linear in total variance over t; flat vol outside the range."""
    target = days / DAYS_PER_YEAR
    usable = points.filter(pl.col(value).is_not_null())
    t, iv = pl.col("t_years"), pl.col(value)
    lo, hi = t <= target, t >= target
    agg = usable.group_by("date").agg(
        t_lo=t.filter(lo).max(), iv_lo=iv.filter(lo).sort_by(t.filter(lo)).last(),
        t_hi=t.filter(hi).min(), iv_hi=iv.filter(hi).sort_by(t.filter(hi)).first(),
    )
    w_lo = pl.col("iv_lo") ** 2 * pl.col("t_lo")
    w_hi = pl.col("iv_hi") ** 2 * pl.col("t_hi")
    weight = (target - pl.col("t_lo")) / (pl.col("t_hi") - pl.col("t_lo"))
    both = pl.col("t_lo").is_not_null() & pl.col("t_hi").is_not_null()
    return agg.select(
        "date",
        pl.when(both & (pl.col("t_hi") > pl.col("t_lo")))
        .then(((w_lo + (w_hi - w_lo) * weight) / target).sqrt())
        .otherwise(pl.coalesce("iv_lo", "iv_hi"))
        .alias(f"{value}_{days}d"),
    )


def surface_from_points(points: pl.DataFrame) -> pl.DataFrame:
    """Per date: expiries_used, min/max_tenor_days, atm_iv_{30..365}d, put_25d_iv_30d, skew."""
    points = points.filter(pl.col("t_years") * DAYS_PER_YEAR >= MIN_TENOR_DAYS - 1e-9)
    per_expiry = _expiry_points(points)
    covered = per_expiry.filter(pl.col("atm_iv").is_not_null()).group_by("date").agg(
        expiries_used=pl.len().cast(pl.Int32),
        min_tenor_days=(pl.col("t_years").min() * DAYS_PER_YEAR).round(0).cast(pl.Int32),
        max_tenor_days=(pl.col("t_years").max() * DAYS_PER_YEAR).round(0).cast(pl.Int32),
    )
    out = per_expiry.select("date").unique()
    for days in TARGET_DAYS:
        out = out.join(_interpolate(per_expiry, "atm_iv", days), on="date", how="left")
    out = out.join(_interpolate(per_expiry, "put25_iv", SKEW_TARGET_DAYS), on="date", how="left")
    return out.join(covered, on="date", how="left").with_columns(
        pl.col("expiries_used").fill_null(0),
        put_25d_iv_30d=pl.col(f"put25_iv_{SKEW_TARGET_DAYS}d"),
        put_skew_25d_30d=pl.col(f"put25_iv_{SKEW_TARGET_DAYS}d") - pl.col("atm_iv_30d"),
    ).drop(f"put25_iv_{SKEW_TARGET_DAYS}d")


def chain_points(valuations: pl.DataFrame) -> pl.DataFrame:
    """Usable `analytics.option_valuations` rows as surface points (date = snapshot_date)."""
    usable = ((pl.col("iv_reason") == 0) & ~pl.col("flag_crossed") & ~pl.col("flag_zero_bid")
              & pl.col("iv").is_not_null() & pl.col("moneyness").is_not_null())
    return valuations.filter(usable).select(
        pl.col("snapshot_date").alias("date"), "t_years", "moneyness", "option_right", "iv", "delta")


def synthetic_points(synthetic: pl.DataFrame) -> pl.DataFrame:
    """`analytics.synthetic_chain_daily` rows as surface points."""
    return synthetic.select("date", "t_years", "moneyness", "option_right",
                            pl.col("vol").alias("iv"), "delta")


def realised_vols(prices: pl.DataFrame) -> pl.DataFrame:
    """date, hv20, hv60, hv252 of GLD closes (trailing windows; null until the window is full)."""
    gld = prices.filter(pl.col("symbol") == "GLD") if "symbol" in prices.columns else prices
    return gld.sort("date").select(
        pl.col("date").cast(pl.Date),
        *(realised_vol(pl.col("close"), window).alias(f"hv{window}") for window in (20, 60, 252)),
    )


def vol_surface_daily(valuations: pl.DataFrame, synthetic: pl.DataFrame,
                      prices: pl.DataFrame) -> pl.DataFrame:
    """The `analytics.vol_surface_daily` rows: chain days from valuations, other days synthetic."""
    chain = surface_from_points(chain_points(valuations))
    sources = valuations.group_by(pl.col("snapshot_date").alias("date")).agg(
        iv_source=pl.lit("chain:") + pl.col("source").unique().sort().str.join("+"))
    chain = chain.join(sources, on="date", how="left")
    synth = surface_from_points(synthetic_points(synthetic)).join(
        synthetic.group_by("date").agg(pl.col("atm_vol_source").first()), on="date", how="left",
    ).with_columns(iv_source=pl.lit("synthetic"))
    # a model chain day carries the ATM-vol source its model used (the synthetic day's)
    chain = chain.join(synth.select("date", "atm_vol_source"), on="date",
                                              how="left").with_columns(
        atm_vol_source=pl.when(pl.col("iv_source") == "chain:model").then("atm_vol_source"))
    synth = synth.filter(~pl.col("date").is_in(chain["date"].implode()))
    combined = pl.concat([chain.select(synth.columns), synth], how="vertical_relaxed")
    return (combined.join(realised_vols(prices), on="date", how="left")
            .with_columns(vrp_30d_20d=pl.col("atm_iv_30d") / pl.col("hv20"))
            .select(SURFACE_COLUMNS).sort("date"))


SURFACE_COLUMNS = [
    "date", "iv_source", "atm_vol_source", "expiries_used", "min_tenor_days", "max_tenor_days",
    *(f"atm_iv_{days}d" for days in TARGET_DAYS), "put_25d_iv_30d", "put_skew_25d_30d",
    "hv20", "hv60", "hv252", "vrp_30d_20d",
]
