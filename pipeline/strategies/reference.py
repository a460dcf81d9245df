"""Slow, obviously-correct reference implementations of the strategy engine (test oracles).

Each function repeats a production computation with plain Python loops over rows
(`rows(named=True)`), one row at a time, so the vectorised code can be checked against it and
benchmarked against it. Nothing here is used in production.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import polars as pl

from pipeline.config import SHARES_PER_CONTRACT, Portfolio, StrategySettings
from pipeline.methodology import METHODOLOGY_VERSION
from pipeline.pricing.api import GLD_EXPENSE_RATIO_Q, american_price
from pipeline.pricing.skew import skew_vol
from pipeline.strategies.cost_index import (
    DAYS_PER_YEAR,
    MODEL_CHAIN_SOURCE,
    MONEYNESS,
    PROTECTION_COST_SCHEMA,
    SNAPSHOT_SOURCE_PREFIX,
    SNAPSHOT_TENOR_WINDOW,
    STRIKE_WINDOW,
    SYNTHETIC_SOURCE,
    TENOR_DAYS,
    TENOR_MONTHS,
)
from pipeline.strategies.legs import pick_template
from pipeline.strategies.recommend import (MIN_COST_POINTS, PROFILES, SENSITIVITY_SPOT_SHOCKS,
                                           SENSITIVITY_VOL_SHOCKS)
from pipeline.strategies.scenarios import SPOT_SHOCKS, THIRTY_DAYS, VOL_SHOCKS
from pipeline.strategies.templates import templates_for
from pipeline.portfolio.hedged import BISECTION_STEPS, HIGH_MULTIPLE, LOW_FRACTION
from pipeline.strategies.valuation import MIN_ATM_VOL, DayMarket


def _eligible_snapshot_put(row: dict[str, Any]) -> bool:
    """A real-chain put with a usable quote inside the tenor and strike windows."""
    shortest, longest = SNAPSHOT_TENOR_WINDOW
    spot = row["underlying_price"]
    return (row["source"] != MODEL_CHAIN_SOURCE and row["option_right"] == "P"
            and row["mid"] is not None and row["bid"] is not None and row["bid"] > 0
            and not row["flag_crossed"] and row["iv_reason"] == 0
            and spot is not None and spot > 0
            and shortest <= row["days_to_expiry"] <= longest
            and abs(row["strike"] / spot - MONEYNESS) <= STRIKE_WINDOW)


def protection_cost_index_loop(synthetic: pl.DataFrame, valuations: pl.DataFrame) -> pl.DataFrame:
    """`pipeline.strategies.cost_index.protection_cost_index`, one row at a time."""
    picks: dict[date, tuple[tuple[Any, ...], dict[str, Any]]] = {}
    for row in valuations.rows(named=True):
        if not _eligible_snapshot_put(row):
            continue
        # nearest tenor, then the earlier expiry, then the nearest strike, then the lower strike
        rank = (abs(row["days_to_expiry"] - TENOR_DAYS), row["expiry"],
                abs(row["strike"] - MONEYNESS * row["underlying_price"]), row["strike"])
        day = row["snapshot_date"]
        if day not in picks or rank < picks[day][0]:
            picks[day] = (rank, row)

    out = []
    for row in synthetic.rows(named=True):
        if not (row["tenor_months"] == TENOR_MONTHS and row["moneyness"] == MONEYNESS
                and row["option_right"] == "P"):
            continue
        if row["date"] in picks:
            pick = picks[row["date"]][1]
            source, spot, strike = SNAPSHOT_SOURCE_PREFIX + pick["source"], pick["underlying_price"], pick["strike"]
            expiry, tenor_days, premium = pick["expiry"], pick["days_to_expiry"], pick["mid"]
            moneyness = strike / spot
        else:
            source, spot, strike = SYNTHETIC_SOURCE, row["spot"], row["strike"]
            expiry, tenor_days, premium = None, TENOR_DAYS, row["price"]
            moneyness = row["moneyness"]
        cost = premium / spot
        out.append((row["date"], source, spot, strike, expiry, tenor_days, moneyness, premium,
                    cost, cost * DAYS_PER_YEAR / tenor_days, METHODOLOGY_VERSION))
    out.sort(key=lambda index_row: index_row[0])
    return pl.DataFrame(out, schema=PROTECTION_COST_SCHEMA, orient="row")


# ---- the strategy engine's day, one option and one cell at a time ---------------------------------

def _leg_value(leg: dict[str, Any], spot: float, atm_vol: float, rate: float, horizon_days: int,
               strike: float) -> float:
    """One leg's signed USD value: its intrinsic value with no time left, else one kernel price."""
    days_left = max(leg["dte"] - horizon_days, 0)
    is_call = leg["option_right"] == "C"
    if days_left == 0:
        per_share = max(spot - strike, 0.0) if is_call else max(strike - spot, 0.0)
    else:
        t = days_left / 365.0
        vol = float(skew_vol(atm_vol, strike / spot, t))
        per_share = float(american_price(is_call, spot, strike, t, rate, GLD_EXPENSE_RATIO_Q, vol))
    return per_share * leg["sign"] * leg["contracts"] * SHARES_PER_CONTRACT


def _hedge_value(legs: list[dict[str, Any]], spot: float, atm_vol: float, rate: float, horizon_days: int = 0,
                 strike_scale: float = 1.0) -> float:
    total = 0.0
    for leg in legs:
        total += _leg_value(leg, spot, atm_vol, rate, horizon_days, leg["strike"] * strike_scale)
    return total


def _margin_call_price(legs: list[dict[str, Any]], book: Portfolio, close: float, atm_vol: float, rate: float,
                       horizon_days: int = 0, strike_scale: float = 1.0) -> float | None:
    """The GLD price where collateral + hedge = loan / margin_call_ltv: the same bracket and number
    of halvings in log price as the production solver, one price at a time."""
    shares, call_value = book.share_count, book.loan.amount / book.loan.margin_call_ltv

    def excess(price: float) -> float:
        return shares * price + _hedge_value(legs, price, atm_vol, rate, horizon_days, strike_scale) - call_value

    low, high = math.log(close * LOW_FRACTION), math.log(HIGH_MULTIPLE * max(close, call_value / shares))
    if excess(math.exp(low)) >= 0.0:
        return None
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (low + high)
        if excess(math.exp(mid)) >= 0.0:
            high = mid
        else:
            low = mid
    return math.exp(0.5 * (low + high))


def _template_metrics(legs: list[dict[str, Any]], book: Portfolio, spot: float, atm_vol: float, rate: float,
                      strike_scale: float = 1.0) -> dict[str, Any]:
    """The comparison's figures for one template, with fill and mid per leg as given."""
    shares = book.share_count
    cost = sum(leg["sign"] * leg["contracts"] * SHARES_PER_CONTRACT * leg["fill_price"] for leg in legs)
    call = _margin_call_price(legs, book, spot, atm_vol, rate, 0, strike_scale)
    unhedged = book.loan.amount / (shares * book.loan.margin_call_ltv)
    fall = 1.0 if call is None else 1.0 - call / spot
    points = 100.0 * (fall - (1.0 - unhedged / spot))
    dte = min(leg["dte"] for leg in legs)
    return {"cost_at_fill": cost, "cost_pct_collateral": cost / (shares * spot),
            "cost_annualised_pct": cost / (shares * spot) * 365.0 / dte, "hedged_margin_call_price": call,
            "fall_to_margin_call_hedged_pct": fall, "protection_points": points}


def _score(metrics: dict[str, Any], profile: str, settings: StrategySettings) -> tuple[float, bool]:
    if profile == "conservative":
        return (metrics["fall_to_margin_call_hedged_pct"],
                metrics["cost_annualised_pct"] <= settings.conservative_max_cost_annual)
    if profile == "balanced":
        return (metrics["protection_points"] / max(100.0 * metrics["cost_pct_collateral"], MIN_COST_POINTS),
                metrics["protection_points"] > 1e-9)
    return -metrics["cost_pct_collateral"], metrics["fall_to_margin_call_hedged_pct"] >= settings.aggressive_min_fall


def _pick(by_template: dict[str, dict[str, Any]], profile: str, settings: StrategySettings) -> str | None:
    """The rank-1 template: eligible first, then the highest score, then template order."""
    best, best_key = None, None
    for order, (template_id, metrics) in enumerate(by_template.items()):
        score, eligible = _score(metrics, profile, settings)
        key = (eligible, score, -order)
        if best_key is None or key > best_key:
            best, best_key = template_id, key
    return best


def strategy_day_loop(chain: pl.DataFrame, market: DayMarket, book: Portfolio) -> dict[str, pl.DataFrame]:
    """The day's comparison figures, scenario grid and sensitivity picks, one option at a time.

    Leg picking is shared with production (`pick_template`): it is already per leg. Everything
    priced after it is recomputed here with scalar kernel calls and Python arithmetic.
    """
    shares, loan = book.share_count, book.loan.amount
    spot, atm, rate = market.spot, market.atm_vol, market.rate
    legs_by_template: dict[str, list[dict[str, Any]]] = {}
    for template in templates_for(book):
        pick = pick_template(chain, template, spot, shares)
        if pick.priced:
            legs_by_template[template.template_id] = list(pick.legs.iter_rows(named=True))
    comparison, scenarios = [], []
    for template_id, legs in legs_by_template.items():
        comparison.append({"template_id": template_id, **_template_metrics(legs, book, spot, atm, rate)})
        expiry = min(leg["dte"] for leg in legs)
        for horizon, days in (("now", 0), ("30d", THIRTY_DAYS), ("expiry", expiry)):
            for vol_shock in VOL_SHOCKS:
                vol = max(atm + vol_shock, MIN_ATM_VOL)
                call = _margin_call_price(legs, book, spot, vol, rate, days)
                for spot_shock in SPOT_SHOCKS:
                    price = spot * (1.0 + spot_shock)
                    value = _hedge_value(legs, price, vol, rate, days)
                    scenarios.append({"template_id": template_id, "horizon": horizon, "vol_shock": vol_shock,
                                      "spot_shock": spot_shock, "hedge_value": value,
                                      "hedged_ltv": loan / (shares * price + value), "margin_call_hedged": call})
    sensitivity = []
    for spot_shock in SENSITIVITY_SPOT_SHOCKS:
        for vol_shock in SENSITIVITY_VOL_SHOCKS:
            price, vol, scale = spot * (1.0 + spot_shock), max(atm + vol_shock, MIN_ATM_VOL), 1.0 + spot_shock
            cell: dict[str, dict[str, Any]] = {}
            for template_id, legs in legs_by_template.items():
                moved = []
                for leg in legs:
                    today = _leg_value(leg, spot, atm, rate, 0, leg["strike"])
                    shocked = _leg_value(leg, price, vol, rate, 0, leg["strike"] * scale)
                    ratio = shocked / today if today != 0 else 1.0
                    moved.append({**leg, "fill_price": leg["fill_price"] * ratio})
                cell[template_id] = _template_metrics(moved, book, price, vol, rate, scale)
            for profile in PROFILES:
                sensitivity.append({"risk_profile": profile, "spot_shock": spot_shock, "vol_shock": vol_shock,
                                    "pick_template_id": _pick(cell, profile, book.strategy)})
    return {name: pl.DataFrame(rows, infer_schema_length=None)
            for name, rows in (("comparison", comparison), ("scenarios", scenarios), ("sensitivity", sensitivity))}
