"""Named hedge templates: one definition used by the comparison, the recommendation and backtests.

A template is a set of legs, each a target (right, side, moneyness = strike / spot, tenor in
calendar days, weight = share of the collateral it covers) plus a roll rule. The legs are targets,
not contracts: `pipeline.strategies.legs` turns them into listed contracts on a given day's chain.
`template_id`s are stable (stored rows and backtests refer to them); `display_name` may change.

System templates (3-month tenor unless said):

    protective_put_atm     long 100 % put
    protective_put_95      long 95 % put
    protective_put_90      long 90 % put
    ladder_put_atm_95      long 100 % and 95 % puts, 50 / 50
    ladder_put_atm_95_90   long 100 / 95 / 90 % puts, 33 / 33 / 34
    leaps_put_90           long 90 % put, the listed expiry nearest 12 months within 12..24 months
    collar_95_110          long 95 % put, short 110 % call
    put_spread_95_80       long 95 % put, short 80 % put

User templates come from `[[strategies]]` blocks of portfolio.toml (pipeline/config.py validates
them; an id equal to a system id is refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

import polars as pl

from pipeline.methodology import METHODOLOGY_VERSION

if TYPE_CHECKING:
    from pipeline.config import Portfolio

Right = Literal["P", "C"]
Side = Literal["long", "short"]

THREE_MONTHS_DAYS: Final = 91
DEFAULT_ROLL_DTE: Final = 21
LEAPS_ROLL_DTE: Final = 90
FAMILIES: Final = ("protective_put", "ladder", "leaps", "collar", "put_spread", "custom")


@dataclass(frozen=True)
class Leg:
    """One option leg as a target: the leg picker finds the nearest listed contract."""

    option_right: Right
    side: Side
    moneyness: float
    weight: float = 1.0
    tenor_days: int = THREE_MONTHS_DAYS
    tenor_min_days: int | None = None
    tenor_max_days: int | None = None

    @property
    def sign(self) -> int:
        """+1 for a long leg (bought), -1 for a short leg (sold)."""
        return 1 if self.side == "long" else -1


@dataclass(frozen=True)
class Template:
    """A named hedge: its legs and roll rule; `source` is 'system' or 'user'."""

    template_id: str
    display_name: str
    family: str
    legs: tuple[Leg, ...]
    description: str = ""
    roll_dte: int = DEFAULT_ROLL_DTE
    source: Literal["system", "user"] = "system"


def _put(moneyness: float, weight: float = 1.0, **tenor: int) -> Leg:
    return Leg("P", "long", moneyness, weight, **tenor)


SYSTEM_TEMPLATES: Final[tuple[Template, ...]] = (
    Template("protective_put_atm", "Protective put, ATM (3 m)", "protective_put", (_put(1.00),),
             "Long a 3-month at-the-money put on all the collateral."),
    Template("protective_put_95", "Protective put 95 % (3 m)", "protective_put", (_put(0.95),),
             "Long a 3-month put struck 5 % below spot on all the collateral."),
    Template("protective_put_90", "Protective put 90 % (3 m)", "protective_put", (_put(0.90),),
             "Long a 3-month put struck 10 % below spot on all the collateral."),
    Template("ladder_put_atm_95", "Put ladder ATM / 95 % (3 m)", "ladder",
             (_put(1.00, 0.50), _put(0.95, 0.50)),
             "Half the collateral under a 3-month ATM put, half under a 95 % put."),
    Template("ladder_put_atm_95_90", "Put ladder ATM / 95 / 90 % (3 m)", "ladder",
             (_put(1.00, 0.33), _put(0.95, 0.33), _put(0.90, 0.34)),
             "A third of the collateral each under 3-month 100 %, 95 % and 90 % puts."),
    Template("leaps_put_90", "LEAPS put 90 % (12-24 m)", "leaps",
             (_put(0.90, tenor_days=365, tenor_min_days=365, tenor_max_days=730),),
             "Long the listed 90 % put nearest 12 months out (within 12-24 months).",
             roll_dte=LEAPS_ROLL_DTE),
    Template("collar_95_110", "Collar 95 / 110 % (3 m)", "collar",
             (_put(0.95), Leg("C", "short", 1.10)),
             "Long a 3-month 95 % put paid for by selling a 110 % call: upside capped there."),
    Template("put_spread_95_80", "Put spread 95 / 80 % (3 m)", "put_spread",
             (_put(0.95), Leg("P", "short", 0.80)),
             "Long a 3-month 95 % put, short an 80 % put: protection from -5 % to -20 %."),
)
SYSTEM_TEMPLATE_IDS: Final = frozenset(t.template_id for t in SYSTEM_TEMPLATES)


def templates_for(portfolio: Portfolio | None) -> tuple[Template, ...]:
    """System templates followed by the portfolio's own (`[[strategies]]`), in file order."""
    if portfolio is None:
        return SYSTEM_TEMPLATES
    user = tuple(
        Template(s.id, s.display_name or s.id, s.family,
                 tuple(Leg("P" if leg.right == "put" else "C", leg.side, leg.moneyness, leg.weight,
                           leg.tenor_days, leg.tenor_min_days, leg.tenor_max_days) for leg in s.legs),
                 s.description, s.roll_dte, "user")
        for s in portfolio.strategies
    )
    return SYSTEM_TEMPLATES + user


def template_by_id(templates: tuple[Template, ...], template_id: str) -> Template:
    """The template with `template_id`; KeyError naming the known ids otherwise."""
    for template in templates:
        if template.template_id == template_id:
            return template
    raise KeyError(f"template_id {template_id!r} is not defined; known: {[t.template_id for t in templates]}")


def templates_frame(templates: tuple[Template, ...]) -> pl.DataFrame:
    """`analytics.strategy_templates` rows."""
    return pl.DataFrame(
        [(t.template_id, t.display_name, t.family, t.source, t.description, t.roll_dte, len(t.legs),
          METHODOLOGY_VERSION) for t in templates],
        schema={"template_id": pl.String, "display_name": pl.String, "family": pl.String,
                "source": pl.String, "description": pl.String, "roll_dte": pl.Int32, "legs": pl.Int32,
                "methodology_version": pl.String},
        orient="row",
    )


def template_legs_frame(templates: tuple[Template, ...]) -> pl.DataFrame:
    """`analytics.strategy_template_legs` rows: one per template and leg."""
    return pl.DataFrame(
        [(t.template_id, i, leg.option_right, leg.side, leg.moneyness, leg.tenor_days, leg.tenor_min_days,
          leg.tenor_max_days, leg.weight) for t in templates for i, leg in enumerate(t.legs)],
        schema={"template_id": pl.String, "leg_index": pl.Int32, "option_right": pl.String,
                "side": pl.String, "moneyness": pl.Float64, "tenor_days": pl.Int32,
                "tenor_min_days": pl.Int32, "tenor_max_days": pl.Int32, "weight": pl.Float64},
        orient="row",
    )
