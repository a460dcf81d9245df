"""Turn a template's leg targets into listed contracts on one day's valued chain, and size them.

Picking (per leg, on `analytics.option_valuations` rows of one snapshot day):
1. Expiries: the listed expiries of the leg's right with days_to_expiry > 0 and inside the leg's
   [tenor_min_days, tenor_max_days] window (when given), tried nearest to `tenor_days` first
   (a tie goes to the longer one), at most MAX_EXPIRIES_TRIED of them.
2. Strikes of that expiry, nearest to moneyness x spot first (a tie goes to the higher strike),
   no further than MAX_STRIKE_GAP x spot from the target.
3. The first contract with a usable quote wins. A contract is skipped, and the reason kept in the
   leg's note, when it has no ask, a zero bid, a crossed quote (ask < bid) or no implied vol
   (iv_reason <> 0): nothing is skipped silently. A leg with no usable contract is unpriced and
   its template's status is `no_contract`.

Sizing: 100 shares a contract. A leg covering `weight` of the collateral needs
weight x shares / 100 contracts; the legs of one (right, side) are rounded together by largest
remainder so that their total is the rounded total coverage (the 33/33/34 ladder on 1,000 shares
buys 3 + 3 + 4 contracts, not 3 + 3 + 3): coverage never exceeds the collateral by more than half
a contract, and short legs never exceed the long ones they are paired with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import polars as pl

from pipeline.config import SHARES_PER_CONTRACT
from pipeline.strategies.templates import Leg, Template

MAX_STRIKE_GAP: Final = 0.05
"""A strike more than 5 % of spot away from the target is no longer the template's leg."""
MAX_EXPIRIES_TRIED: Final = 3

PICKED_LEG_SCHEMA: Final = pl.Schema({
    "template_id": pl.String, "leg_index": pl.Int32, "option_right": pl.String, "side": pl.String,
    "sign": pl.Int8, "target_moneyness": pl.Float64, "target_tenor_days": pl.Int32, "contract": pl.String,
    "expiry": pl.Date, "dte": pl.Int32, "strike": pl.Float64, "contracts": pl.Int64, "bid": pl.Float64,
    "ask": pl.Float64, "mid": pl.Float64, "fill_price": pl.Float64, "iv": pl.Float64,
})
"""One picked leg: fill_price is the ask for a long leg and the bid for a short one (USD per share)."""


@dataclass(frozen=True)
class TemplatePick:
    """The legs picked for one template (empty when any leg found no usable contract) and the notes."""

    template_id: str
    legs: pl.DataFrame
    notes: tuple[str, ...]

    @property
    def priced(self) -> bool:
        return self.legs.height > 0


def skip_reason(row: dict[str, object]) -> str | None:
    """Why a valued quote cannot be traded for a hedge, or None when it can."""
    ask, bid = row["ask"], row["bid"]
    if ask is None or not ask > 0:  # type: ignore[operator]
        return "no ask"
    if bid is None or not bid > 0:  # type: ignore[operator]
        return "zero bid"
    if ask < bid:  # type: ignore[operator]
        return "crossed quote"
    if row["iv_reason"] != 0:
        return f"no implied vol ({row['iv_reason_name']})"
    return None


def contracts_for(weights: list[float], shares: float) -> list[int]:
    """Contracts per leg for legs of one (right, side) covering `weights` of `shares` (largest remainder).

    >>> contracts_for([0.33, 0.33, 0.34], 1000)
    [3, 3, 4]
    >>> contracts_for([1.0], 1049), contracts_for([1.0], 1050), contracts_for([0.5, 0.5], 1000)
    ([10], [11], [5, 5])
    """
    exact = [w * shares / SHARES_PER_CONTRACT for w in weights]
    total = math.floor(sum(exact) + 0.5)
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: max(total - sum(counts), 0)]:
        counts[i] += 1
    return counts


def leg_contracts(legs: tuple[Leg, ...], shares: float) -> list[int]:
    """Contracts per leg, legs of one (right, side) rounded together (`contracts_for`).

    >>> from pipeline.strategies.templates import SYSTEM_TEMPLATES
    >>> leg_contracts(SYSTEM_TEMPLATES[4].legs, 1000), leg_contracts(SYSTEM_TEMPLATES[6].legs, 750)
    ([3, 3, 4], [8, 8])
    """
    sizes: dict[int, int] = {}
    for right in ("P", "C"):
        for side in ("long", "short"):
            group = [i for i, leg in enumerate(legs) if (leg.option_right, leg.side) == (right, side)]
            sizes.update(zip(group, contracts_for([legs[i].weight for i in group], shares)))
    return [sizes[i] for i in range(len(legs))]


def _describe(index: int, leg: Leg) -> str:
    return f"leg {index} ({leg.side} {leg.option_right} {leg.moneyness:.0%}, {leg.tenor_days} d)"


def pick_leg(chain: pl.DataFrame, leg: Leg, spot: float) -> tuple[dict[str, object] | None, list[str]]:
    """The chain row to trade for `leg` (None if none is usable) and the contracts skipped on the way."""
    rows = chain.filter((pl.col("option_right") == leg.option_right) & (pl.col("days_to_expiry") > 0))
    if leg.tenor_min_days is not None:
        rows = rows.filter(pl.col("days_to_expiry") >= leg.tenor_min_days)
    if leg.tenor_max_days is not None:
        rows = rows.filter(pl.col("days_to_expiry") <= leg.tenor_max_days)
    if rows.is_empty():
        window = f"{leg.tenor_min_days or 1}..{leg.tenor_max_days or 'any'} days"
        return None, [f"no listed {leg.option_right} expiry in {window}"]
    expiries = (rows.select("expiry", "days_to_expiry").unique()
                .sort([(pl.col("days_to_expiry") - leg.tenor_days).abs(), pl.col("days_to_expiry")],
                      descending=[False, True])
                .head(MAX_EXPIRIES_TRIED))
    target = leg.moneyness * spot
    skipped: list[str] = []
    for expiry in expiries["expiry"]:
        strikes = (rows.filter((pl.col("expiry") == expiry) & ((pl.col("strike") - target).abs() <= MAX_STRIKE_GAP * spot))
                   .sort([(pl.col("strike") - target).abs(), pl.col("strike")], descending=[False, True]))
        for row in strikes.iter_rows(named=True):
            reason = skip_reason(row)
            if reason is None:
                return row, skipped
            skipped.append(f"{row['contract']} {reason}")
    skipped.append(f"no usable contract within {MAX_STRIKE_GAP:.0%} of the {target:.2f} target strike "
                   f"in the {expiries.height} nearest expiries")
    return None, skipped


def pick_template(chain: pl.DataFrame, template: Template, spot: float, shares: float) -> TemplatePick:
    """Listed, sized contracts for every leg of `template` on one day's valued chain."""
    sizes = dict(enumerate(leg_contracts(template.legs, shares)))
    picked, notes = [], []
    for index, leg in enumerate(template.legs):
        row, skipped = pick_leg(chain, leg, spot)
        if skipped:
            notes.append(f"{_describe(index, leg)}: " + "; ".join(skipped))
        if sizes[index] == 0:
            notes.append(f"{_describe(index, leg)}: {leg.weight:g} of {shares:g} shares is under half a contract")
        if row is None or sizes[index] == 0:
            continue
        picked.append({
            "template_id": template.template_id, "leg_index": index, "option_right": leg.option_right,
            "side": leg.side, "sign": leg.sign, "target_moneyness": leg.moneyness,
            "target_tenor_days": leg.tenor_days, "contract": row["contract"], "expiry": row["expiry"],
            "dte": row["days_to_expiry"], "strike": row["strike"], "contracts": sizes[index],
            "bid": row["bid"], "ask": row["ask"], "mid": row["mid"],
            "fill_price": row["ask"] if leg.side == "long" else row["bid"], "iv": row["iv"],
        })
    complete = len(picked) == len(template.legs)
    legs = pl.DataFrame(picked if complete else [], schema=PICKED_LEG_SCHEMA, orient="row")
    return TemplatePick(template.template_id, legs, tuple(notes))
