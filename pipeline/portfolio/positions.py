"""Held hedges per day: mark, intrinsic, DTE, Greeks, P&L and a triage code.

Mark: the chain valuation (`analytics.option_valuations`) when it has the position's
(expiry, right, strike) that day (`mark_source` = 'chain_<its source>', e.g. 'chain_model'
offline, 'chain_market' with quotes); otherwise the American kernel at that day's surface:
spot = close, vol = skew_vol(atm_vol, strike/spot, t), 3-month T-bill rate (as of the day,
never ahead), q = GLD's expense ratio (`mark_source` = 'kernel'). On the expiry day the
option is worth its intrinsic value (`mark_source` = 'intrinsic').

Units per position (already x 100 shares x contracts): delta in GLD-share equivalents, gamma
per 1 USD move, theta in USD per calendar day, vega in USD per 1 vol point (0.01).

Triage, first rule that fires wins:
    EXPIRED     dte <= 0
    ROLL        dte < roll_dte (21)
    HARVEST     mark >= harvest_multiple (2.0) x premium paid
    PROTECTING  in the money (intrinsic > 0)
    IDLE        none of the above
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from pipeline.config import SHARES_PER_CONTRACT, Portfolio
from pipeline.pricing.api import GLD_EXPENSE_RATIO_Q, american_greeks, american_price
from pipeline.pricing.skew import atm_vol_daily, skew_vol

RATE_TENOR: Final = "3m"
DAYS_PER_YEAR: Final = 365.0
KERNEL: Final = "kernel"
INTRINSIC: Final = "intrinsic"
TRIAGE_ORDER: Final = ("EXPIRED", "ROLL", "HARVEST", "PROTECTING", "IDLE")


def market_surface(prices: pl.DataFrame, gvz: pl.DataFrame, rates: pl.DataFrame, symbol: str = "GLD") -> pl.DataFrame:
    """Per trading day of `symbol`: close, ATM vol (+ source) and the 3m rate as of that day.

    Rates are joined backward (the T-bill series may end before the price series: the last
    known rate is carried, never a later one).
    """
    closes = prices.filter(pl.col("symbol") == symbol).select("date", "close").sort("date")
    vols = atm_vol_daily(gvz, prices.filter(pl.col("symbol") == symbol).with_columns(symbol=pl.lit("GLD")))
    bill = (
        rates.filter(pl.col("tenor") == RATE_TENOR)
        .select(pl.col("date").alias("rate_date"), "rate")
        .sort("rate_date")
    )
    return (
        closes.join(vols.select("date", "atm_vol", "atm_vol_source"), on="date", how="left")
        .join_asof(bill, left_on="date", right_on="rate_date", strategy="backward")
        .with_columns(pl.col("rate").fill_null(0.0))
    )


def hedge_frame(portfolio: Portfolio) -> pl.DataFrame:
    """The configured hedges as rows (one per position)."""
    schema = {"position_id": pl.String, "right": pl.String, "strike": pl.Float64, "expiry": pl.Date,
              "contracts": pl.Int64, "entry_date": pl.Date, "premium": pl.Float64}
    rows = [
        (h.position_id, h.right, h.strike, h.expiry, h.contracts, h.entry_date, h.premium)
        for h in portfolio.hedges
    ]
    return pl.DataFrame(rows, schema=schema, orient="row")


def kernel_values(is_call: np.ndarray, spot: np.ndarray, strike: np.ndarray, t: np.ndarray,
                  rate: np.ndarray, atm_vol: np.ndarray) -> dict[str, np.ndarray]:
    """Per-share American price and Greeks at the skewed vol (t > 0 only; QuantLib units)."""
    vol = skew_vol(atm_vol, strike / spot, t)
    greeks = american_greeks(is_call, spot, strike, t, rate, GLD_EXPENSE_RATIO_Q, vol)
    return {"vol": vol, **{name: np.asarray(getattr(greeks, name), dtype=np.float64)
                           for name in ("price", "delta", "gamma", "theta", "vega")}}


def kernel_price(is_call: np.ndarray, spot: np.ndarray, strike: np.ndarray, t: np.ndarray,
                 rate: np.ndarray, atm_vol: np.ndarray) -> np.ndarray:
    """Per-share American price at the skewed vol, without Greeks (for repricing in a solver)."""
    vol = skew_vol(atm_vol, strike / spot, t)
    return np.asarray(american_price(is_call, spot, strike, t, rate, GLD_EXPENSE_RATIO_Q, vol), dtype=np.float64)


def _normalise_valuations(valuations: pl.DataFrame | None) -> pl.DataFrame:
    schema = {"date": pl.Date, "expiry": pl.Date, "right": pl.String, "strike": pl.Float64,
              "q_mid": pl.Float64, "q_delta": pl.Float64, "q_gamma": pl.Float64,
              "q_theta": pl.Float64, "q_vega": pl.Float64, "q_source": pl.String}
    if valuations is None or valuations.is_empty():
        return pl.DataFrame(schema=schema)
    right_column = "option_right" if "option_right" in valuations.columns else "right"
    right = pl.col(right_column).cast(pl.String).str.to_lowercase().str.slice(0, 1)
    return (
        valuations.filter(pl.col("mid").is_not_null() & pl.col("mid").is_finite())
        .select(
            pl.col("snapshot_date").cast(pl.Date).alias("date"),
            pl.col("expiry").cast(pl.Date),
            pl.when(right == "p").then(pl.lit("put")).otherwise(pl.lit("call")).alias("right"),
            pl.col("strike").cast(pl.Float64),
            pl.col("mid").cast(pl.Float64).alias("q_mid"),
            *[pl.col(g).cast(pl.Float64).alias(f"q_{g}") for g in ("delta", "gamma", "theta", "vega")],
            pl.col("source").cast(pl.String).alias("q_source"),
        )
        .unique(["date", "expiry", "right", "strike"], keep="first", maintain_order=True)
    )


def positions_daily(portfolio: Portfolio, surface: pl.DataFrame,
                    valuations: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per held hedge and trading day, from its entry date to its expiry (or the last day)."""
    hedges = hedge_frame(portfolio)
    rows = (
        hedges.join(surface, how="cross")
        .filter((pl.col("date") >= pl.col("entry_date")) & (pl.col("date") <= pl.col("expiry")))
        .join(_normalise_valuations(valuations), on=["date", "expiry", "right", "strike"], how="left")
        .with_columns(
            dte=(pl.col("expiry") - pl.col("date")).dt.total_days().cast(pl.Int64),
            intrinsic=pl.when(pl.col("right") == "put")
            .then(pl.max_horizontal(pl.col("strike") - pl.col("close"), pl.lit(0.0)))
            .otherwise(pl.max_horizontal(pl.col("close") - pl.col("strike"), pl.lit(0.0))),
        )
        .with_columns(t_years=pl.col("dte") / DAYS_PER_YEAR)
        .sort("position_id", "date")
    )
    if rows.is_empty():
        return _finish(rows.with_columns(
            **{c: pl.lit(None, dtype=pl.Float64) for c in ("vol", "mark", "delta1", "gamma1", "theta1", "vega1")},
            mark_source=pl.lit(None, dtype=pl.String)), portfolio)

    live = (rows["dte"] > 0).to_numpy()
    n = rows.height
    model = {name: np.full(n, np.nan) for name in ("vol", "price", "delta", "gamma", "theta", "vega")}
    if live.any():
        values = kernel_values(
            (rows["right"] == "call").to_numpy()[live], rows["close"].to_numpy()[live],
            rows["strike"].to_numpy()[live], rows["t_years"].to_numpy()[live],
            rows["rate"].to_numpy()[live], rows["atm_vol"].to_numpy()[live],
        )
        for name, array in values.items():
            model[name][live] = array
    expired_delta = pl.when(pl.col("intrinsic") > 0).then(
        pl.when(pl.col("right") == "put").then(-1.0).otherwise(1.0)).otherwise(0.0)
    has_quote = pl.col("q_mid").is_not_null() & (pl.col("dte") > 0)
    rows = rows.with_columns(
        vol=pl.Series(model["vol"]).fill_nan(None),
        _m_price=pl.Series(model["price"]), _m_delta=pl.Series(model["delta"]),
        _m_gamma=pl.Series(model["gamma"]),
        _m_theta=pl.Series(model["theta"]) / DAYS_PER_YEAR, _m_vega=pl.Series(model["vega"]) / 100.0,
    ).with_columns(
        mark=pl.when(pl.col("dte") <= 0).then(pl.col("intrinsic"))
        .when(has_quote).then(pl.col("q_mid")).otherwise(pl.col("_m_price")),
        mark_source=pl.when(pl.col("dte") <= 0).then(pl.lit(INTRINSIC))
        .when(has_quote).then(pl.lit("chain_") + pl.col("q_source")).otherwise(pl.lit(KERNEL)),
        delta1=pl.when(pl.col("dte") <= 0).then(expired_delta)
        .when(has_quote & pl.col("q_delta").is_not_null()).then(pl.col("q_delta")).otherwise(pl.col("_m_delta")),
        **{f"{g}1": pl.when(pl.col("dte") <= 0).then(0.0)
           .when(has_quote & pl.col(f"q_{g}").is_not_null()).then(pl.col(f"q_{g}") / scale)
           .otherwise(pl.col(f"_m_{g}"))
           for g, scale in (("gamma", 1.0), ("theta", DAYS_PER_YEAR), ("vega", 100.0))},
    )
    return _finish(rows, portfolio)


def _finish(rows: pl.DataFrame, portfolio: Portfolio) -> pl.DataFrame:
    """Scale to the position, add P&L and triage, and select the table's columns."""
    size = pl.col("contracts") * SHARES_PER_CONTRACT
    roll_dte = portfolio.triage.roll_dte
    multiple = portfolio.triage.harvest_multiple
    triage = (
        pl.when(pl.col("dte") <= 0).then(pl.lit("EXPIRED"))
        .when(pl.col("dte") < roll_dte).then(pl.lit("ROLL"))
        .when(pl.col("mark") >= multiple * pl.col("premium")).then(pl.lit("HARVEST"))
        .when(pl.col("intrinsic") > 0).then(pl.lit("PROTECTING"))
        .otherwise(pl.lit("IDLE"))
    )
    triage_rule = (
        pl.when(pl.col("dte") <= 0).then(pl.format("dte {} <= 0", "dte"))
        .when(pl.col("dte") < roll_dte).then(pl.format("dte {} < {}", "dte", pl.lit(roll_dte)))
        .when(pl.col("mark") >= multiple * pl.col("premium")).then(
            pl.format("mark {} >= {} x premium {}", pl.col("mark").round(2), pl.lit(multiple), "premium"))
        .when(pl.col("intrinsic") > 0).then(
            pl.format("in the money: intrinsic {} > 0", pl.col("intrinsic").round(2)))
        .otherwise(pl.lit("no rule fired"))
    )
    return rows.select(
        "date", "position_id", pl.col("right").alias("option_right"), "strike", "expiry", "contracts", "entry_date", "premium",
        gld_close=pl.col("close"),
        dte="dte", t_years="t_years", atm_vol="atm_vol", vol="vol", rate="rate",
        mark="mark", mark_source="mark_source", intrinsic="intrinsic",
        position_value=pl.col("mark") * size,
        cost=pl.col("premium") * size,
        pnl=(pl.col("mark") - pl.col("premium")) * size,
        delta=pl.col("delta1") * size,
        gamma=pl.col("gamma1") * size,
        theta=pl.col("theta1") * size,
        vega=pl.col("vega1") * size,
        triage=triage,
        triage_rule=triage_rule,
    ).sort("date", "position_id")


def hedge_totals_daily(positions: pl.DataFrame) -> pl.DataFrame:
    """Per day: total hedge value, net hedge Greeks and the mark source ('mixed' if several)."""
    return (
        positions.group_by("date")
        .agg(
            hedge_value=pl.col("position_value").sum(),
            hedge_mark_source=pl.when(pl.col("mark_source").n_unique() == 1)
            .then(pl.col("mark_source").first()).otherwise(pl.lit("mixed")),
            hedge_delta=pl.col("delta").sum(),
            hedge_gamma=pl.col("gamma").sum(),
            hedge_theta=pl.col("theta").sum(),
            hedge_vega=pl.col("vega").sum(),
        )
        .sort("date")
    )
