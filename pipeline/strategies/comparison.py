"""Today's comparison: what each template costs on the day's chain and how much safety it buys.

Per template (N collateral shares, spot S, loan L, margin-call LTV m; legs i with sign s_i = +1
long / -1 short, n_i contracts of 100 shares):

    cost_at_fill        = sum_i s_i n_i 100 fill_i      fill = ask (long) or bid (short), USD
    cost_at_mid         = sum_i s_i n_i 100 mid_i
    premium_per_share   = cost_at_fill / N              (the put's ask when one put covers everything)
    cost_pct_collateral = cost_at_fill / (N S);  cost_annualised_pct = cost_pct_collateral x 365 / dte
    unhedged_margin_call_price = L / (N m)
    hedged_margin_call_price   = the P with N P + hedge(P) = L / m, the legs repriced at P with the
                                 kernel at the day's skewed vol and remaining time (valuation.py)
    fall_to_margin_call_*_pct  = 1 - margin_call_price / S  (1 when the hedge covers the call at any price)
    protection_points          = 100 x (fall hedged - fall unhedged): percentage points of extra fall
    cost_per_protection_point  = cost_at_fill / protection_points (USD; null when no points are bought)
    floor_value     = min over P >= 0 of N P + payoff(P) at expiry (payoff: every leg at intrinsic)
    max_loss        = N S + cost_at_fill - floor_value  (today's collateral down to the floor, plus the premium)
    breakeven_price = the lowest P with N P + payoff(P) - cost_at_fill >= N S (null: never, e.g. a capped collar)
    upside_cap_price = the lowest short-call strike (collars)

`dte` and `expiry` are the earliest leg's: the hedge is whole until then. The same `hedge_metrics`
prices the sensitivity grid's shocked markets (pipeline/strategies/recommend.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import polars as pl

from pipeline.config import SHARES_PER_CONTRACT, Portfolio
from pipeline.methodology import METHODOLOGY_VERSION
from pipeline.strategies.legs import PICKED_LEG_SCHEMA, TemplatePick, pick_template
from pipeline.strategies.templates import Template
from pipeline.strategies.valuation import DayMarket, margin_call_prices, scenario_positions

FAR_PRICE_MULTIPLE: Final = 10.0
"""Payoff knots run from 0 to 10 x spot; beyond the last strike every payoff is linear."""


@dataclass(frozen=True)
class Comparison:
    """One day's comparison rows, the order preview, and the picked legs behind both."""

    comparison: pl.DataFrame
    order_preview: pl.DataFrame
    legs: pl.DataFrame


def _expiry_profile(positions: pl.DataFrame, keys: list[str], shares: float) -> pl.DataFrame:
    """[*keys, floor_value, breakeven_price]: exact piecewise-linear expiry value of collateral + legs."""
    leg_rows = positions.select(*keys, "strike", "option_right", "contracts", "gld_close", "cost_at_fill")
    knots = pl.concat([
        leg_rows.select(*keys, price=pl.col("strike")),
        leg_rows.select(*keys, price=pl.lit(0.0)),
        leg_rows.select(*keys, price=FAR_PRICE_MULTIPLE * pl.col("gld_close")),
    ]).unique()
    intrinsic = pl.when(pl.col("option_right") == "put").then(pl.max_horizontal(pl.col("strike") - pl.col("price"), 0.0)
                                                               ).otherwise(pl.max_horizontal(pl.col("price") - pl.col("strike"), 0.0))
    values = (knots.join(leg_rows, on=keys)
              .group_by(*keys, "price")
              .agg(payoff=(pl.col("contracts") * SHARES_PER_CONTRACT * intrinsic).sum(),
                   spot=pl.col("gld_close").first(), cost=pl.col("cost_at_fill").first())
              .with_columns(value=shares * pl.col("price") + pl.col("payoff"))
              .with_columns(gain=pl.col("value") - pl.col("cost") - shares * pl.col("spot"))
              .sort(*keys, "price")
              .with_columns(prev_price=pl.col("price").shift().over(keys), prev_gain=pl.col("gain").shift().over(keys)))
    crossing = pl.when(pl.col("prev_gain").is_null()).then(pl.col("price")).otherwise(
        pl.col("prev_price") - pl.col("prev_gain") * (pl.col("price") - pl.col("prev_price"))
        / (pl.col("gain") - pl.col("prev_gain")))
    floors = values.group_by(keys, maintain_order=True).agg(floor_value=pl.col("value").min())
    breakevens = (values.filter((pl.col("gain") >= 0) & (pl.col("prev_gain").is_null() | (pl.col("prev_gain") < 0)))
                  .group_by(keys, maintain_order=True).agg(breakeven_price=crossing.first()))
    return floors.join(breakevens, on=keys, how="left")


def hedge_metrics(legs: pl.DataFrame, market: DayMarket, keys: Sequence[str], book: Portfolio) -> pl.DataFrame:
    """Cost and protection per `keys` group (a template, or a template in a shocked market).

    `legs` are picked legs whose fill_price and mid are the prices in their market: today's quotes
    for the comparison; shocked markets carry spot_shock / vol_shock columns (valuation.py) and
    their re-priced quotes. See the module docstring for each formula.
    """
    keys = list(keys)
    shares, loan, mcl = book.share_count, book.loan.amount, book.loan.margin_call_ltv
    size = pl.col("sign").cast(pl.Float64) * pl.col("leg_contracts") * SHARES_PER_CONTRACT
    positions = scenario_positions(legs, market, None).with_columns(
        cost_at_fill=(size * pl.col("fill_price")).sum().over(keys),
        cost_at_mid=(size * pl.col("mid")).sum().over(keys),
    )
    totals = positions.group_by(keys, maintain_order=True).agg(
        spot=pl.col("gld_close").first(),
        expiry=pl.col("expiry").min(),
        dte=pl.col("dte").min().cast(pl.Int32),
        contracts=pl.col("leg_contracts").sum(),
        protected_shares=(pl.col("leg_contracts") * SHARES_PER_CONTRACT).filter(
            (pl.col("leg_right") == "P") & (pl.col("side") == "long")).sum().cast(pl.Float64),
        cost_at_fill=pl.col("cost_at_fill").first(),
        cost_at_mid=pl.col("cost_at_mid").first(),
        upside_cap_price=pl.col("strike").filter((pl.col("leg_right") == "C") & (pl.col("side") == "short")).min(),
    )
    unhedged_call = loan / (shares * mcl)
    fall_hedged = 1.0 - pl.col("hedged_margin_call_price") / pl.col("spot")
    return (totals
            .join(margin_call_prices(positions, keys, shares, loan, mcl), on=keys, how="left")
            .join(_expiry_profile(positions, keys, shares), on=keys, how="left")
            .with_columns(
                premium_per_share=pl.col("cost_at_fill") / shares,
                cost_pct_collateral=pl.col("cost_at_fill") / (shares * pl.col("spot")),
                unhedged_margin_call_price=pl.lit(unhedged_call),
                fall_to_margin_call_unhedged_pct=1.0 - unhedged_call / pl.col("spot"),
                fall_to_margin_call_hedged_pct=pl.when(pl.col("hedged_margin_call_price").is_null()).then(1.0)
                .otherwise(fall_hedged),
                max_loss=shares * pl.col("spot") + pl.col("cost_at_fill") - pl.col("floor_value"),
            )
            .with_columns(
                cost_annualised_pct=pl.col("cost_pct_collateral") * 365.0 / pl.col("dte"),
                protection_points=100.0 * (pl.col("fall_to_margin_call_hedged_pct")
                                           - pl.col("fall_to_margin_call_unhedged_pct")),
            )
            .with_columns(cost_per_protection_point=pl.when(pl.col("protection_points") > 1e-9)
                          .then(pl.col("cost_at_fill") / pl.col("protection_points"))))


COMPARISON_COLUMNS: Final = [
    "as_of", "template_id", "display_name", "family", "chain_source", "status", "spot", "collateral_shares",
    "collateral_value", "loan", "expiry", "dte", "contracts", "protected_shares", "premium_per_share",
    "cost_at_fill", "cost_at_mid", "cost_pct_collateral", "cost_annualised_pct", "unhedged_margin_call_price",
    "hedged_margin_call_price", "fall_to_margin_call_unhedged_pct", "fall_to_margin_call_hedged_pct",
    "protection_points", "cost_per_protection_point", "floor_value", "max_loss", "breakeven_price",
    "upside_cap_price", "leg_notes", "methodology_version",
]


def picked_legs(picks: Sequence[TemplatePick]) -> pl.DataFrame:
    """All priced templates' legs in one frame (PICKED_LEG_SCHEMA)."""
    return pl.concat([pick.legs for pick in picks] or [pl.DataFrame(schema=PICKED_LEG_SCHEMA)])


def order_preview(legs: pl.DataFrame, market: DayMarket) -> pl.DataFrame:
    """`analytics.order_preview` rows: a read-only ticket per template and leg."""
    size = pl.col("sign").cast(pl.Float64) * pl.col("contracts") * SHARES_PER_CONTRACT
    return legs.select(
        as_of=pl.lit(market.as_of), template_id="template_id", leg_index="leg_index", contract="contract",
        action=pl.when(pl.col("side") == "long").then(pl.lit("BUY")).otherwise(pl.lit("SELL")),
        option_right="option_right", expiry="expiry", strike="strike", contracts="contracts", bid="bid",
        ask="ask", limit_price="mid", iv="iv", est_cost_at_mid=size * pl.col("mid"),
        est_cost_at_fill=size * pl.col("fill_price"),
    ).with_columns(total_cash_needed=pl.col("est_cost_at_fill").sum().over("template_id"),
                   chain_source=pl.lit(market.chain_source)).sort("template_id", "leg_index")


def compare_templates(chain: pl.DataFrame, templates: Sequence[Template], market: DayMarket,
                      book: Portfolio) -> Comparison:
    """Pick, size and price every template on one day's valued chain (`analytics.option_valuations`)."""
    shares = book.share_count
    picks = [pick_template(chain, template, market.spot, shares) for template in templates]
    legs = picked_legs(picks)
    metrics = hedge_metrics(legs, market, ["template_id"], book)
    info = pl.DataFrame(
        [(t.template_id, t.display_name, t.family, "ok" if p.priced else "no_contract", " | ".join(p.notes))
         for t, p in zip(templates, picks)],
        schema={"template_id": pl.String, "display_name": pl.String, "family": pl.String, "status": pl.String,
                "leg_notes": pl.String}, orient="row")
    unhedged_call = book.loan.amount / (shares * book.loan.margin_call_ltv)
    comparison = info.join(metrics, on="template_id", how="left", maintain_order="left").with_columns(
        as_of=pl.lit(market.as_of), chain_source=pl.lit(market.chain_source), spot=pl.lit(market.spot),
        collateral_shares=pl.lit(shares), collateral_value=pl.lit(shares * market.spot),
        loan=pl.lit(book.loan.amount), contracts=pl.col("contracts").fill_null(0),
        protected_shares=pl.col("protected_shares").fill_null(0.0),
        unhedged_margin_call_price=pl.lit(unhedged_call),
        fall_to_margin_call_unhedged_pct=pl.lit(1.0 - unhedged_call / market.spot),
        methodology_version=pl.lit(METHODOLOGY_VERSION),
    ).select(COMPARISON_COLUMNS)
    return Comparison(comparison, order_preview(legs, market), legs)
