"""Rank the templates for each risk profile, and test whether the pick survives a different market.

Scores (higher is better; `[strategy]` in portfolio.toml sets the limits):

    conservative  score = fall_to_margin_call_hedged_pct: the largest fall absorbed, among templates
                  whose cost_annualised_pct <= conservative_max_cost_annual (eligible)
    balanced      score = protection_points / max(100 x cost_pct_collateral, MIN_COST_POINTS): points of
                  extra fall bought per 1 % of collateral spent (eligible: it buys some points); the cost
                  floor keeps a near-zero-cost collar from scoring infinity
    aggressive    score = -cost_pct_collateral: the cheapest, among templates that still leave
                  fall_to_margin_call_hedged_pct >= aggressive_min_fall (eligible)

Eligible templates rank first (by score, then template order); the rest follow by the same score;
unpriced templates come last with no score. Each row carries a one-sentence rationale with the numbers.

Sensitivity: the same ranking in shocked markets, spot SENSITIVITY_SPOT_SHOCKS x ATM vol
SENSITIVITY_VOL_SHOCKS. Each template keeps today's expiries and moneyness, re-struck at the
shocked spot (strike x (1 + spot shock)), and each leg's fill and mid are today's quotes scaled by
the kernel's price ratio (shocked market / today's), so the (0, 0) cell is exactly today's comparison.
"""

from __future__ import annotations

from typing import Final, get_args

import polars as pl

from pipeline.config import Portfolio, RiskProfile, StrategySettings
from pipeline.strategies.comparison import hedge_metrics
from pipeline.strategies.valuation import DayMarket, hedge_values, scenario_grid, scenario_positions

PROFILES: Final[tuple[str, ...]] = get_args(RiskProfile)
MIN_COST_POINTS: Final = 0.1
"""The balanced score divides by at least 0.1 % of collateral."""
SENSITIVITY_SPOT_SHOCKS: Final = (-0.10, -0.05, 0.0, 0.05, 0.10)
SENSITIVITY_VOL_SHOCKS: Final = (-0.05, -0.025, 0.0, 0.025, 0.05, 0.075, 0.10)
CELL_KEYS: Final = ["spot_shock", "vol_shock"]


def _scored(metrics: pl.DataFrame, profile: str, settings: StrategySettings) -> pl.DataFrame:
    """metrics + score and eligible for one risk profile."""
    priced = pl.col("cost_at_fill").is_not_null()
    fall = pl.col("fall_to_margin_call_hedged_pct")
    if profile == "conservative":
        score, eligible = fall, pl.col("cost_annualised_pct") <= settings.conservative_max_cost_annual
    elif profile == "balanced":
        score = pl.col("protection_points") / pl.max_horizontal(100.0 * pl.col("cost_pct_collateral"),
                                                                pl.lit(MIN_COST_POINTS))
        eligible = pl.col("protection_points") > 1e-9
    else:
        score, eligible = -pl.col("cost_pct_collateral"), fall >= settings.aggressive_min_fall
    return metrics.with_columns(score=pl.when(priced).then(score), eligible=(priced & eligible).fill_null(False))


def rank_templates(metrics: pl.DataFrame, settings: StrategySettings, keys: list[str] | None = None) -> pl.DataFrame:
    """[*keys, risk_profile, template_id, rank, score, eligible] for every profile (rank 1 = the pick)."""
    keys = keys or []
    order = metrics.with_row_index("_order")  # template order breaks ties (rows come in template order)
    parts = []
    for profile in PROFILES:
        scored = _scored(order, profile, settings).with_columns(risk_profile=pl.lit(profile))
        ranked = scored.sort([*keys, "eligible", "score", "_order"], descending=[*([False] * len(keys)), True, True, False],
                             nulls_last=True)
        parts.append(ranked.with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("risk_profile", *keys)))
    return pl.concat(parts).drop("_order")


def _rationale(row: dict[str, object], profile: str, settings: StrategySettings) -> str:
    """One sentence with the numbers behind a template's place for a profile."""
    name = row["display_name"]
    if row["cost_at_fill"] is None:
        return f"{name} could not be priced on this chain ({row['leg_notes'] or 'no usable contract'})."
    fall, cost, pct = row["fall_to_margin_call_hedged_pct"], row["cost_at_fill"], row["cost_pct_collateral"]
    unhedged = row["fall_to_margin_call_unhedged_pct"]
    cap = f"; upside capped at ${row['upside_cap_price']:,.2f}" if row["upside_cap_price"] is not None else ""
    safety = (f"keeps LTV below the margin call at any GLD price until {row['expiry']}"
              if row["hedged_margin_call_price"] is None
              else f"lets gold fall {fall:.1%} before the margin call")
    base = f"{name} {safety} (unhedged {unhedged:.1%}) for ${cost:,.0f}, {pct:.2%} of collateral"
    if profile == "conservative":
        verdict = "within" if row["eligible"] else "above"
        return (f"{base} ({row['cost_annualised_pct']:.1%} a year, {verdict} the "
                f"{settings.conservative_max_cost_annual:.0%} cap){cap}.")
    if profile == "balanced":
        return f"{base}: {row['protection_points']:.1f} points of extra fall, {row['score']:.2f} per 1 % of collateral{cap}."
    verdict = "meets" if row["eligible"] else "misses"
    return f"{base}; {verdict} the {settings.aggressive_min_fall:.0%} minimum buffer{cap}."


def recommendation(comparison: pl.DataFrame, book: Portfolio) -> pl.DataFrame:
    """`analytics.strategy_recommendation` rows for one day's comparison."""
    settings = book.strategy
    ranked = rank_templates(comparison, settings)
    rationale = [_rationale(row, row["risk_profile"], settings) for row in ranked.iter_rows(named=True)]
    return ranked.with_columns(
        rationale=pl.Series(rationale, dtype=pl.String),
        is_portfolio_profile=pl.col("risk_profile") == book.risk_profile,
    ).select("as_of", "risk_profile", "template_id", "rank", "score", "eligible", "is_portfolio_profile",
             "rationale").sort("risk_profile", "rank")


def shocked_legs(legs: pl.DataFrame, market: DayMarket) -> pl.DataFrame:
    """Legs re-struck and re-priced in each sensitivity cell (see the module docstring)."""
    cells = scenario_grid(spot_shock=SENSITIVITY_SPOT_SHOCKS, vol_shock=SENSITIVITY_VOL_SHOCKS).with_columns(
        strike_scale=1.0 + pl.col("spot_shock"))
    keys = [*CELL_KEYS, "template_id", "leg_index"]
    shocked = hedge_values(scenario_positions(legs, market, cells), keys)
    today = hedge_values(scenario_positions(legs, market, None),
                         ["template_id", "leg_index"]).rename({"hedge_value": "today_value"})
    ratio = pl.when(pl.col("today_value") != 0).then(pl.col("hedge_value") / pl.col("today_value")).otherwise(1.0)
    return (legs.join(shocked.join(today, on=["template_id", "leg_index"]), on=["template_id", "leg_index"])
            .with_columns(strike=pl.col("strike") * (1.0 + pl.col("spot_shock")),
                          fill_price=pl.col("fill_price") * ratio, mid=pl.col("mid") * ratio)
            .drop("hedge_value", "today_value"))


def sensitivity(legs: pl.DataFrame, comparison: pl.DataFrame, market: DayMarket, book: Portfolio) -> pl.DataFrame:
    """`analytics.strategy_sensitivity` rows: the pick per profile in each shocked market."""
    base = rank_templates(comparison, book.strategy).filter((pl.col("rank") == 1) & pl.col("score").is_not_null()).select(
        "risk_profile", base_template_id="template_id")
    cells = scenario_grid(spot_shock=SENSITIVITY_SPOT_SHOCKS, vol_shock=SENSITIVITY_VOL_SHOCKS)
    if legs.is_empty():
        picks = pl.DataFrame(schema={**cells.schema, "risk_profile": pl.String, "template_id": pl.String,
                                     "score": pl.Float64})
    else:
        template_order = comparison.select("template_id").with_row_index("_t")
        metrics = (hedge_metrics(shocked_legs(legs, market), market, [*CELL_KEYS, "template_id"], book)
                   .join(template_order, on="template_id").sort(*CELL_KEYS, "_t").drop("_t"))
        picks = rank_templates(metrics, book.strategy, keys=CELL_KEYS).filter(
            (pl.col("rank") == 1) & pl.col("score").is_not_null())
    grid = cells.join(pl.DataFrame({"risk_profile": list(PROFILES)}), how="cross")
    return (grid.join(picks.select(*CELL_KEYS, "risk_profile", pick_template_id="template_id", pick_score="score"),
                      on=[*CELL_KEYS, "risk_profile"], how="left")
            .join(base, on="risk_profile", how="left")
            .with_columns(as_of=pl.lit(market.as_of),
                          pick_changed=pl.col("pick_template_id").ne_missing(pl.col("base_template_id")))
            .select("as_of", "risk_profile", "spot_shock", "vol_shock", "pick_template_id", "pick_score",
                    "base_template_id", "pick_changed")
            .sort("risk_profile", "spot_shock", "vol_shock"))
