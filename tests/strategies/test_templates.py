"""Templates: the system set is exactly the issue's, user templates come from portfolio.toml."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.config import PortfolioConfigError, parse_portfolio
from pipeline.strategies.templates import (SYSTEM_TEMPLATE_IDS, SYSTEM_TEMPLATES, template_by_id,
                                           template_legs_frame, templates_for, templates_frame)

BASE = {"start_date": date(2026, 1, 2), "collateral": {"shares": 1000.0},
        "loan": {"amount": 275000.0}}


def _with_strategies(*blocks: dict) -> dict:
    return {**BASE, "strategies": list(blocks)}


def test_system_templates_are_the_issues_eight_with_their_legs():
    assert [t.template_id for t in SYSTEM_TEMPLATES] == [
        "protective_put_atm", "protective_put_95", "protective_put_90", "ladder_put_atm_95",
        "ladder_put_atm_95_90", "leaps_put_90", "collar_95_110", "put_spread_95_80"]
    legs = {t.template_id: [(leg.option_right, leg.side, leg.moneyness, leg.weight) for leg in t.legs]
            for t in SYSTEM_TEMPLATES}
    assert legs["ladder_put_atm_95_90"] == [("P", "long", 1.0, 0.33), ("P", "long", 0.95, 0.33),
                                            ("P", "long", 0.90, 0.34)]
    assert legs["collar_95_110"] == [("P", "long", 0.95, 1.0), ("C", "short", 1.10, 1.0)]
    assert legs["put_spread_95_80"] == [("P", "long", 0.95, 1.0), ("P", "short", 0.80, 1.0)]
    leaps = template_by_id(SYSTEM_TEMPLATES, "leaps_put_90").legs[0]
    assert (leaps.tenor_min_days, leaps.tenor_max_days) == (365, 730)
    assert {leg.tenor_days for t in SYSTEM_TEMPLATES if t.family != "leaps" for leg in t.legs} == {91}


def test_user_template_from_the_portfolio_file_follows_the_system_ones():
    book = parse_portfolio(_with_strategies({
        "id": "put_85_6m", "display_name": "6-month 85 % put", "roll_dte": 30,
        "legs": [{"right": "put", "moneyness": 0.85, "tenor_days": 182}]}))
    templates = templates_for(book)
    assert templates[:8] == SYSTEM_TEMPLATES
    user = template_by_id(templates, "put_85_6m")
    assert (user.source, user.family, user.roll_dte, user.display_name) == ("user", "custom", 30, "6-month 85 % put")
    assert user.legs[0].option_right == "P" and user.legs[0].tenor_days == 182
    frame = templates_frame(templates)
    assert frame["template_id"].to_list()[-1] == "put_85_6m" and frame["source"].to_list()[-1] == "user"
    assert template_legs_frame(templates).filter(template_id="put_85_6m")["moneyness"].to_list() == [0.85]


@pytest.mark.parametrize(("block", "expected"), [
    ({"id": "collar_95_110", "legs": [{"right": "put", "moneyness": 0.9}]},
     "strategies.0.id: is a system template id; choose another (got 'collar_95_110')"),
    ({"id": "naked", "legs": [{"right": "call", "side": "short", "moneyness": 1.1}]},
     "strategies.0.legs: needs at least one long leg (a hedge buys protection) (got 1)"),
    ({"id": "double", "legs": [{"right": "put", "moneyness": 0.9, "weight": 0.7},
                               {"right": "put", "moneyness": 0.8, "weight": 0.6}]},
     "strategies.0.legs: long put weights add up to 1.3, above 1 (the collateral) (got 1.2999999999999998)"),
    ({"id": "odd", "family": "straddle", "legs": [{"right": "put", "moneyness": 0.9}]},
     "strategies.0.family: must be one of protective_put, ladder, leaps, collar, put_spread, custom (got 'straddle')"),
    ({"id": "late", "legs": [{"right": "put", "moneyness": 0.9, "tenor_days": 90, "tenor_min_days": 120}]},
     "strategies.0.legs.0.tenor_min_days: must not exceed tenor_days=90 (got 120)"),
    ({"id": "Bad Id", "legs": [{"right": "put", "moneyness": 0.9}]},
     "strategies.0.id: String should match pattern '^[a-z][a-z0-9_]{0,39}$' (got 'Bad Id')"),
    ({"id": "weak", "legs": [{"right": "put", "moneyness": "0.9"}]},
     "strategies.0.legs.0.moneyness: Input should be a valid number (got '0.9')"),
])
def test_bad_user_templates_name_the_field_and_the_value(block: dict, expected: str):
    with pytest.raises(PortfolioConfigError) as error:
        parse_portfolio(_with_strategies(block))
    assert expected in error.value.errors


def test_two_user_templates_with_one_id_are_refused():
    block = {"id": "twice", "legs": [{"right": "put", "moneyness": 0.9}]}
    with pytest.raises(PortfolioConfigError) as error:
        parse_portfolio(_with_strategies(block, block))
    assert "strategies.1.id: repeats another strategy's id (got 'twice')" in error.value.errors


def test_system_ids_are_stable():
    """Stored rows and backtests refer to these ids: renaming one must fail here first."""
    assert SYSTEM_TEMPLATE_IDS == frozenset({
        "protective_put_atm", "protective_put_95", "protective_put_90", "ladder_put_atm_95",
        "ladder_put_atm_95_90", "leaps_put_90", "collar_95_110", "put_spread_95_80"})
