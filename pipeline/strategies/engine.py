"""One day of the strategy engine: every template picked, compared, stressed, ranked and previewed.

The inputs are the day's own: its valued chain (`analytics.option_valuations` of that snapshot day),
the GLD close, the ATM vol and the 3-month rate as of that day (`pipeline.portfolio.positions.
market_surface`, the same surface the held hedges are marked on). Nothing from a later day enters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import polars as pl

from pipeline.config import Portfolio
from pipeline.methodology import METHODOLOGY_VERSION
from pipeline.strategies.comparison import compare_templates
from pipeline.strategies.recommend import recommendation, sensitivity
from pipeline.strategies.scenarios import strategy_payoff, strategy_scenarios
from pipeline.strategies.templates import templates_for
from pipeline.strategies.valuation import DayMarket


@dataclass(frozen=True)
class StrategyDay:
    """The six tables of one as_of day, keyed by their warehouse names."""

    comparison: pl.DataFrame
    order_preview: pl.DataFrame
    scenarios: pl.DataFrame
    payoff: pl.DataFrame
    recommendation: pl.DataFrame
    sensitivity: pl.DataFrame

    def tables(self) -> dict[str, pl.DataFrame]:
        return {
            "analytics.strategy_comparison": self.comparison,
            "analytics.order_preview": self.order_preview,
            "analytics.strategy_scenarios": self.scenarios,
            "analytics.strategy_payoff": self.payoff,
            "analytics.strategy_recommendation": self.recommendation,
            "analytics.strategy_sensitivity": self.sensitivity,
        }


def day_market(surface: pl.DataFrame, chain: pl.DataFrame, day: date) -> DayMarket:
    """The market of `day`: close, ATM vol and rate as of that day (the last surface row on or
    before it: a snapshot taken while Yahoo was down is priced off the last stored close, as the
    model chain itself is), and the chain's source."""
    known = surface.filter((pl.col("date") <= day) & pl.col("atm_vol").is_not_null()).sort("date")
    if known.is_empty():
        raise ValueError(f"as_of={day}: no GLD close with an ATM vol on or before that day")
    values = known.row(-1, named=True)
    sources = sorted(chain["source"].unique().to_list())
    return DayMarket(as_of=day, spot=float(values["close"]), atm_vol=float(values["atm_vol"]),
                     rate=float(values["rate"]), chain_source="+".join(sources) or "none")


PORTFOLIO_INPUTS = {"start_date", "risk_profile", "collateral", "loan", "strategy", "strategies"}
"""The portfolio fields a day's strategy tables depend on (hedges held and alerts do not enter)."""


QUOTE_COLUMNS = ["contract", "expiry", "option_right", "strike", "bid", "ask", "iv", "iv_reason",
                 "underlying_price", "source"]
"""The chain columns a day's figures are computed from (a re-fetch with the same quotes changes nothing)."""


def inputs_digest(chain: pl.DataFrame, book: Portfolio) -> str:
    """Fingerprint of what a day's strategy tables are computed from: the chain's quotes
    (QUOTE_COLUMNS, in contract order), the portfolio fields in PORTFOLIO_INPUTS and the
    methodology version. A stored day with another digest is recomputed."""
    quotes = chain.select(QUOTE_COLUMNS).sort("contract").write_csv()
    text = "|".join([quotes, book.model_dump_json(include=PORTFOLIO_INPUTS), METHODOLOGY_VERSION])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def strategy_day(chain: pl.DataFrame, market: DayMarket, book: Portfolio) -> StrategyDay:
    """Everything the strategy engine publishes for one day."""
    compared = compare_templates(chain, templates_for(book), market, book)
    return StrategyDay(
        comparison=compared.comparison.with_columns(inputs_digest=pl.lit(inputs_digest(chain, book))),
        order_preview=compared.order_preview,
        scenarios=strategy_scenarios(compared.legs, market, book),
        payoff=strategy_payoff(compared.legs, market, book, compared.comparison.select("template_id", "cost_at_fill")),
        recommendation=recommendation(compared.comparison, book),
        sensitivity=sensitivity(compared.legs, compared.comparison, market, book),
    )
