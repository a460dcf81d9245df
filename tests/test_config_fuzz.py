"""Generated portfolio.toml files: every field of the model mistyped, missing, extreme, unicode,
huge, contradictory, plus unknown keys and files that are not UTF-8 or not TOML.

Each document starts from the documented example (portfolio.toml, plus a `[strategy]` table, a `[backtest]` table and
one user template so that those fields are reachable too), gets one or more edits, is written as
real TOML text and loaded with `load_portfolio`. The properties:

- no exception other than PortfolioConfigError, ever;
- every error line starts with `(file)` or the dotted path of a field that exists in the model
  (an unknown key: a path inside a real table, saying "unknown field"), and is one line;
- every error line is about something that was edited (no invented problems);
- a value of the wrong type, outside a declared bound, an unknown key or a contradiction is
  always refused (never silently accepted);
- one edit that is refused is named by path with its value (repr or TOML text);
- a file that loads gives back exactly the values written, and a consistent portfolio.
"""

from __future__ import annotations

import ast
import copy
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from pipeline.config import (MAX_SHARES, SHOWN_VALUE_CHARS, Portfolio, PortfolioConfigError,
                             load_portfolio)
from pipeline.paths import PROJECT_ROOT
from pipeline.portfolio.gold_ounces import GLD_INCEPTION
from pipeline.strategies.templates import SYSTEM_TEMPLATE_IDS

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
EXAMPLE_TEXT = (PROJECT_ROOT / "portfolio.toml").read_text(encoding="utf-8")
USER_TEMPLATE = {
    "id": "my_put_90", "display_name": "My 90 % put", "family": "protective_put",
    "description": "a quarterly 10 % out-of-the-money put", "roll_dte": 30,
    "legs": [{"right": "put", "side": "long", "moneyness": 0.9, "tenor_days": 91, "tenor_min_days": 60,
              "tenor_max_days": 120, "weight": 1.0}],
}
STRATEGY_SETTINGS = {
    "conservative_max_cost_annual": 0.08, "aggressive_min_fall": 0.15, "signal_discount_below": -0.10,
    "signal_rich_above": 0.20, "tail_spot_shocks": [-0.05, -0.10, -0.20], "tail_vol_shocks": [0.10, 0.20],
    "tail_loaded_above": 0.05, "tail_extreme_above": 0.15,
}
BACKTEST_SETTINGS = {
    "initial_ltv": 0.65, "cure": "none", "tail_days": 20, "hedge_ratio": 1.0, "budget_cap": 0.03,
    "provider": "mixed", "alma_window": 50, "alma_offset": 0.85, "alma_sigma": 6.0, "ltv_buffer": 0.05,
    "mc_paths": 100_000, "mc_seed": 20260129, "mc_mean_block_days": 20.0,
    "events": [{"id": "my_window", "label": "My window", "start": date(2024, 4, 12), "end": date(2024, 5, 3)}],
}
FieldPath = tuple[str | int, ...]  # ("hedges", 0, "strike")
DELETE = object()  # an edit that removes the field


def base_document() -> dict[str, Any]:
    """The documented example, with every optional section present."""
    document = tomllib.loads(EXAMPLE_TEXT)
    document["strategy"] = copy.deepcopy(STRATEGY_SETTINGS)
    document["strategies"] = [copy.deepcopy(USER_TEMPLATE)]
    document["backtest"] = copy.deepcopy(BACKTEST_SETTINGS)
    return document


# ---- a TOML writer, checked by a tomllib round trip on every generated document ---------------

def toml_string(text: str) -> str:
    escaped = []
    for ch in text:
        if ch in '"\\':
            escaped.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            escaped.append(f"\\u{ord(ch):04x}")
        else:
            escaped.append(ch)
    return '"' + "".join(escaped) + '"'


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def toml_document(document: dict[str, Any]) -> str:
    """Top-level values, then one [table] per table and [[array]] blocks per array of tables."""
    def is_array_of_tables(value: Any) -> bool:
        return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)

    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in document.items()
             if not isinstance(v, dict) and not is_array_of_tables(v)]
    for key, value in document.items():
        if isinstance(value, dict):
            lines.append(f"\n[{toml_key(key)}]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()]
    for key, value in document.items():
        if is_array_of_tables(value):
            for item in value:
                lines.append(f"\n[[{toml_key(key)}]]")
                lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def same_document(a: Any, b: Any) -> bool:
    """Equality where nan equals nan (TOML can spell nan)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_document(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_document(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# ---- the model, walked: which paths exist and what each field accepts -------------------------

@dataclass(frozen=True)
class FieldSpec:
    """What the model declares for one path: its kind, bounds and allowed values."""

    kind: str  # float | int | str | date | literal | list | model | list_model
    metadata: tuple[Any, ...] = ()
    choices: tuple[str, ...] = ()
    model: type[BaseModel] | None = None
    item: Any = None


def _spec(annotation: Any, metadata: tuple[Any, ...] = ()) -> FieldSpec:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return FieldSpec("literal", metadata, choices=typing.get_args(annotation))
    if origin is list:
        (item,) = typing.get_args(annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return FieldSpec("list_model", metadata, model=item)
        return FieldSpec("list", metadata, item=item)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return FieldSpec("model", metadata, model=annotation)
    return FieldSpec({float: "float", int: "int", str: "str", date: "date"}[annotation], metadata)


def spec_at(path: FieldPath) -> FieldSpec | None:
    """The spec of `path` in the Portfolio model, or None when no such field exists."""
    spec = FieldSpec("model", model=Portfolio)
    for part in path:
        if spec.kind == "model" and isinstance(part, str) and part in spec.model.model_fields:
            info = spec.model.model_fields[part]
            spec = _spec(info.annotation, tuple(info.metadata))
        elif spec.kind == "list_model" and _is_index(part):
            spec = FieldSpec("model", model=spec.model)
        elif spec.kind == "list" and _is_index(part):
            spec = _spec(spec.item)
        else:
            return None
    return spec


def _is_index(part: str | int) -> bool:
    return isinstance(part, int) or (isinstance(part, str) and part.isdigit())


def _paths(spec: FieldSpec, document: Any, prefix: FieldPath) -> list[FieldPath]:
    """Every field path of the model, with list indexes taken from the base document."""
    found: list[FieldPath] = []
    if spec.kind == "model":
        for name, info in spec.model.model_fields.items():
            sub = _spec(info.annotation, tuple(info.metadata))
            child = document.get(name) if isinstance(document, dict) else None
            found.append((*prefix, name))
            found += _paths(sub, child, (*prefix, name))
    elif spec.kind == "list_model":
        for i, item in enumerate(document or []):
            found.append((*prefix, i))
            found += _paths(FieldSpec("model", model=spec.model), item, (*prefix, i))
    elif spec.kind == "list":
        found += [(*prefix, i) for i in range(len(document or []))]
    return found


ALL_PATHS = _paths(FieldSpec("model", model=Portfolio), base_document(), ())
TABLE_PATHS = [()] + [p for p in ALL_PATHS if spec_at(p).kind == "model"]


def dotted(path: FieldPath) -> str:
    """A path as the error lines spell it: plain names as they are, any other key quoted."""
    return ".".join(str(p) if re.fullmatch(r"[A-Za-z0-9_-]+", str(p)) else repr(str(p)) for p in path)


def must_refuse(spec: FieldSpec, value: Any) -> bool:
    """True when the model's declaration alone says `value` cannot be accepted (types are
    strict, no field takes nan/inf or a bool, bounds and patterns are declared)."""
    if value is DELETE:
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return True
    if isinstance(value, bool):
        return True
    accepted = {"float": (int, float), "int": (int,), "str": (str,), "literal": (str,), "date": (date,),
                "list": (list,), "model": (dict,), "list_model": (list,)}[spec.kind]
    if not isinstance(value, accepted) or (spec.kind == "date" and type(value) is not date):
        return True
    if spec.kind == "literal" and value not in spec.choices:
        return True
    if spec.kind == "list" and spec.item is float and any(must_refuse(FieldSpec("float"), v) for v in value):
        return True
    if spec.kind == "list" and spec.item is str and any(not isinstance(v, str) for v in value):
        return True
    if spec.kind == "list_model" and any(not isinstance(v, dict) for v in value):
        return True
    for bound in spec.metadata:
        if isinstance(value, (int, float)):
            if ((isinstance(bound, annotated_types.Gt) and not value > bound.gt)
                    or (isinstance(bound, annotated_types.Ge) and not value >= bound.ge)
                    or (isinstance(bound, annotated_types.Lt) and not value < bound.lt)
                    or (isinstance(bound, annotated_types.Le) and not value <= bound.le)):
                return True
        if isinstance(value, (str, list)):
            if ((isinstance(bound, annotated_types.MinLen) and len(value) < bound.min_length)
                    or (isinstance(bound, annotated_types.MaxLen) and len(value) > bound.max_length)):
                return True
        pattern = getattr(bound, "pattern", None)
        # Python's `$` also matches before a final newline, the model's regex does not: a
        # Python mismatch is a mismatch for the model too.
        if pattern and isinstance(value, str) and re.search(pattern, value) is None:
            return True
    return False


# ---- edits ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Edit:
    path: FieldPath
    value: Any  # DELETE removes the field


@dataclass(frozen=True)
class Mutation:
    """One or more edits; `refused` when they must make the file invalid, `named` the paths an
    error may name for it (empty: any related path), `scope` what a later edit must not touch
    for the refusal to still hold."""

    kind: str
    edits: tuple[Edit, ...]
    refused: bool
    named: tuple[str, ...] = ()
    scope: tuple[FieldPath, ...] = field(default=())


def apply(document: dict[str, Any], edit: Edit) -> bool:
    """Apply one edit in place; False when its parent no longer exists (an earlier edit removed it)."""
    parent: Any = document
    for part in edit.path[:-1]:
        if isinstance(parent, dict) and isinstance(part, str) and part in parent:
            parent = parent[part]
        elif isinstance(parent, list) and isinstance(part, int) and part < len(parent):
            parent = parent[part]
        else:
            return False
    last = edit.path[-1]
    if isinstance(parent, dict) and isinstance(last, str):
        if edit.value is DELETE:
            parent.pop(last, None)
        else:
            parent[last] = copy.deepcopy(edit.value)
        return True
    if isinstance(parent, list) and isinstance(last, int) and last < len(parent):
        if edit.value is DELETE:
            del parent[last]
        else:
            parent[last] = copy.deepcopy(edit.value)
        return True
    return False


def related(a: FieldPath, b: FieldPath) -> bool:
    """Same path, one inside the other, or siblings in the same table."""
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter] or (len(a) == len(b) and a[:-1] == b[:-1])


NUMBERS = st.one_of(
    st.sampled_from([0, -1, 1, 7, 100_000, 2**63 - 1, -(2**63), 10**30, 10**400,
                     0.0, -0.0, 5e-324, 1e-300, 0.5, 0.75, 0.9999, 1.0, 1e9, 1e12, 1e308,
                     math.nan, math.inf, -math.inf]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2.0, max_value=2.0),
)
TEXTS = st.one_of(
    st.sampled_from(["", " ", "GLD", "GLD\n", "gld", "IAU", "put", "call", "long", "short", "balanced",
                     "owner@example.com", "a b@c.d", "x@y", "ünïcødé@例え.jp", "dec-380-put", "my_put_90",
                     "protective_put", "custom", "1000", "0.75", "2026-01-02", "nan", "true",
                     "x" * 100_000, "\u202e\u0000\x1f\ufeff", "🪙" * 300]),
    st.text(max_size=40),
    st.text(min_size=190, max_size=600),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,45}", fullmatch=True),
)
DATES = st.one_of(st.sampled_from([date(1, 1, 1), date(9999, 12, 31), GLD_INCEPTION,
                                   GLD_INCEPTION - timedelta(days=1), date(2026, 10, 16), date(2026, 12, 18)]),
                  st.dates(), st.dates(min_value=date(2004, 1, 1), max_value=date(2030, 12, 31)))
SCALARS = st.one_of(NUMBERS, TEXTS, DATES, st.booleans(),  # (TOML has no `fold`: keep it 0)
                    st.datetimes(timezones=st.sampled_from([None, timezone.utc])).map(lambda d: d.replace(fold=0)),
                    st.times().map(lambda t: t.replace(fold=0)))
ANY_VALUE = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=4),
    st.dictionaries(st.text(min_size=1, max_size=12), SCALARS, max_size=3),
)


def values_for(path: FieldPath) -> st.SearchStrategy[Any]:
    """Anything at all, and values of the field's own kind near and past its limits."""
    spec = spec_at(path)
    own: st.SearchStrategy[Any] = {
        "float": NUMBERS, "int": NUMBERS, "str": TEXTS, "literal": TEXTS, "date": DATES,
        "list": st.lists(NUMBERS if spec.item is float else TEXTS, max_size=60),
    }.get(spec.kind, st.nothing())
    if spec.kind in ("model", "list_model"):
        return st.one_of(ANY_VALUE, _own_container(spec, path))
    return st.one_of(ANY_VALUE, own, within_bounds(spec), within_bounds(spec))  # valid values twice as often


def within_bounds(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Values the declaration allows (so that accepted files get checked for exact values too)."""
    low = high = None
    for bound in spec.metadata:
        low = getattr(bound, "gt", getattr(bound, "ge", low))
        high = getattr(bound, "lt", getattr(bound, "le", high))
    if spec.kind == "float":
        return st.floats(min_value=low, max_value=high, exclude_min=low is not None,
                         exclude_max=high is not None, allow_nan=False, allow_infinity=False)
    if spec.kind == "int":
        return st.integers(min_value=None if low is None else math.floor(low) + 1,
                           max_value=None if high is None else math.floor(high))
    if spec.kind == "literal":
        return st.sampled_from(spec.choices)
    if spec.kind == "date":
        return st.dates(min_value=GLD_INCEPTION, max_value=date(2035, 12, 31))
    if spec.kind == "str":
        return st.one_of(st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True), st.text(min_size=1, max_size=60))
    return st.lists(st.floats(-0.99, 0.99) if spec.item is float else st.emails(), max_size=5)


def _own_container(spec: FieldSpec, path: FieldPath) -> st.SearchStrategy[Any]:
    """A table of the base with some keys dropped; an array of 0..300 base items, or of scalars."""
    if spec.kind == "model":
        base = _get(base_document(), path)
        return st.builds(lambda drop: {k: v for k, v in base.items() if k not in drop},
                         st.sets(st.sampled_from(sorted(base)), max_size=len(base)))
    items = _get(base_document(), path)
    return st.one_of(st.just([]), st.integers(1, 300).map(lambda n: [copy.deepcopy(items[0])] * n),
                     st.lists(SCALARS, min_size=1, max_size=3))


def _get(document: Any, path: FieldPath) -> Any:
    for part in path:
        document = document[part]
    return document


@st.composite
def field_edit(draw: st.DrawFn) -> Mutation:
    """Set one field (any path of the model, tables and arrays included) to a value, or remove it."""
    path = draw(st.sampled_from(ALL_PATHS))
    if draw(st.integers(0, 4)) == 0:
        return Mutation("delete", (Edit(path, DELETE),), refused=False, scope=(path,))
    value = draw(values_for(path))
    return Mutation("set", (Edit(path, value),), refused=must_refuse(spec_at(path), value), scope=(path,))


@st.composite
def unknown_key(draw: st.DrawFn) -> Mutation:
    """A key the model does not have, in any table (names in any script, dots, newlines)."""
    table = draw(st.sampled_from(TABLE_PATHS))
    known = set(spec_at(table).model.model_fields) if table else set(Portfolio.model_fields)
    key = draw(st.one_of(st.from_regex(r"[a-z]{2,12}_x", fullmatch=True), st.text(min_size=1, max_size=20),
                         st.sampled_from(["haircut", "Shares", "shares ", "a.b", "ключ", "\n", "🪙"])))
    assume(key not in known)
    value = draw(ANY_VALUE)
    path = (*table, key)
    return Mutation("unknown", (Edit(path, value),), refused=True, named=(dotted(path),),
                    scope=(path, table) if table else (path,))


@st.composite
def contradiction(draw: st.DrawFn) -> Mutation:
    """Fields valid one by one that contradict each other (README: "contradictions")."""
    which = draw(st.sampled_from([
        "warn_ge_critical", "target_ge_margin", "margin_ge_liquidation", "critical_above_liquidation",
        "bases_disagree", "shares_and_ounces", "value_half_given", "entered_after_expiry",
        "entered_before_gld", "duplicate_hedge_ids", "duplicate_default_ids", "start_before_gld",
        "ounces_not_gld", "derived_shares_out_of_range", "system_template_id", "duplicate_template_ids",
        "leg_weights_above_one", "no_long_leg", "tenor_window_inverted", "unknown_family",
        "tail_levels_inverted", "tail_shock_out_of_range",
    ]))
    f = draw(st.floats(min_value=1.0, max_value=1.3))
    hedge = draw(st.integers(0, 1))
    hp: FieldPath = ("hedges", hedge)
    legs: FieldPath = ("strategies", 0, "legs")
    leg = dict(USER_TEMPLATE["legs"][0])
    if which == "warn_ge_critical":
        critical = draw(st.floats(0.3, 0.85))
        edits = [(("alerts", "warn_ltv"), min(critical * f, 0.99)), (("alerts", "critical_ltv"), critical)]
        named, scope = ["alerts.warn_ltv"], [("alerts",)]
    elif which == "target_ge_margin":
        margin = draw(st.floats(0.3, 0.85))
        edits = [(("loan", "target_ltv"), min(margin * f, 0.99)), (("loan", "margin_call_ltv"), margin)]
        named, scope = ["loan.target_ltv"], [("loan",)]
    elif which == "margin_ge_liquidation":
        margin = draw(st.floats(0.65, 0.95))
        edits, named, scope = [(("loan", "margin_call_ltv"), margin), (("loan", "liquidation_ltv"), margin / f)], \
            ["loan.liquidation_ltv"], [("loan",)]
    elif which == "critical_above_liquidation":
        edits, named, scope = [(("alerts", "critical_ltv"), draw(st.floats(0.901, 0.999)))], \
            ["alerts.critical_ltv"], [("alerts",), ("loan",)]
    elif which == "bases_disagree":
        factor = draw(st.one_of(st.floats(1.001, 5.0), st.floats(0.01, 0.999)))
        edits, named, scope = [(("collateral", "start_value"), 398280.0 * factor),
                               (("collateral", "entry_price"), 398.28)], ["collateral.shares"], [("collateral",)]
    elif which == "shares_and_ounces":
        edits, named, scope = [(("collateral", "ounces"), draw(st.floats(0.01, 1e8)))], \
            ["collateral.ounces"], [("collateral",)]
    elif which == "value_half_given":
        given_ = draw(st.sampled_from(["start_value", "entry_price"]))
        other = "entry_price" if given_ == "start_value" else "start_value"
        edits, named, scope = [(("collateral", given_), draw(st.floats(1.0, 1e5)))], \
            [f"collateral.{other}"], [("collateral",)]
    elif which == "entered_after_expiry":
        expiry = base_document()["hedges"][hedge]["expiry"]
        edits, named, scope = [((*hp, "entry_date"), expiry + timedelta(days=draw(st.integers(1, 3000))))], \
            [f"hedges.{hedge}.entry_date"], [hp]
    elif which == "entered_before_gld":
        edits, named, scope = [((*hp, "entry_date"), draw(st.dates(max_value=GLD_INCEPTION - timedelta(days=1))))], \
            [f"hedges.{hedge}.entry_date"], [hp]
    elif which == "duplicate_hedge_ids":
        edits, named, scope = [(("hedges", 1, "id"), base_document()["hedges"][0]["id"])], \
            ["hedges.0.id", "hedges.1.id"], [("hedges",)]
    elif which == "duplicate_default_ids":
        first = base_document()["hedges"][0]
        edits = [(("hedges", 0, "id"), DELETE), (("hedges", 1, "id"), DELETE)]
        edits += [(("hedges", 1, key), first[key]) for key in ("right", "strike", "expiry")]
        named, scope = ["hedges.0.id", "hedges.1.id"], [("hedges",)]
    elif which == "start_before_gld":
        edits, named, scope = [(("start_date",), draw(st.dates(max_value=GLD_INCEPTION - timedelta(days=1))))], \
            ["start_date"], [("start_date",), ("collateral",)]
    elif which == "ounces_not_gld":
        edits = [(("collateral", "shares"), DELETE), (("collateral", "ounces"), draw(st.floats(0.01, 1e6))),
                 (("collateral", "symbol"), draw(st.sampled_from(["IAU", "SGOL", "BAR"])))]
        named, scope = ["collateral.ounces"], [("collateral",)]
    elif which == "derived_shares_out_of_range":
        start_value, entry_price = draw(st.sampled_from([(5e-324, 1e6), (1e12, 1e-300), (1e12, 1e-3)]))
        edits = [(("collateral", "shares"), DELETE), (("collateral", "start_value"), start_value),
                 (("collateral", "entry_price"), entry_price)]
        named, scope = ["collateral.start_value"], [("collateral",), ("start_date",)]
    elif which == "system_template_id":
        edits, named, scope = [(("strategies", 0, "id"), draw(st.sampled_from(sorted(SYSTEM_TEMPLATE_IDS))))], \
            ["strategies.0.id"], [("strategies",)]
    elif which == "duplicate_template_ids":
        edits, named, scope = [(("strategies",), [copy.deepcopy(USER_TEMPLATE)] * 2)], \
            ["strategies.0.id", "strategies.1.id"], [("strategies",)]
    elif which == "leg_weights_above_one":
        a = draw(st.floats(0.3, 1.0))
        b = draw(st.floats(min_value=1.0 - a + 0.01, max_value=1.0))
        edits = [(legs, [{**leg, "weight": a}, {**leg, "weight": b, "moneyness": 0.8}])]
        named, scope = ["strategies.0.legs"], [("strategies",)]
    elif which == "no_long_leg":
        edits, named, scope = [((*legs, 0, "side"), "short")], ["strategies.0.legs"], [("strategies",)]
    elif which == "tenor_window_inverted":
        edits, named, scope = [((*legs, 0, "tenor_min_days"), draw(st.integers(92, 1100)))], \
            ["strategies.0.legs.0.tenor_min_days"], [legs]
    elif which == "unknown_family":
        edits = [(("strategies", 0, "family"), draw(st.sampled_from(["straddle", "Custom", "collar "])))]
        named, scope = ["strategies.0.family"], [("strategies",)]
    elif which == "tail_levels_inverted":
        edits, named, scope = [(("strategy", "tail_loaded_above"), draw(st.floats(0.15, 9.9)))], \
            ["strategy.tail_loaded_above"], [("strategy",)]
    else:
        shock = draw(st.one_of(st.floats(1.0, 1e6), st.floats(-1e6, -1.0)))
        edits, named, scope = [(("strategy", "tail_spot_shocks", 1), shock)], ["strategy.tail_spot_shocks.1"], \
            [("strategy",)]
    return Mutation(which, tuple(Edit(p, v) for p, v in edits), refused=True, named=tuple(named),
                    scope=tuple(scope))


MUTATION = st.sampled_from(["field"] * 5 + ["unknown", "contradiction", "contradiction"]).flatmap(
    lambda kind: {"field": field_edit(), "unknown": unknown_key(), "contradiction": contradiction()}[kind])


# ---- checking one load ------------------------------------------------------------------------

_TOKEN = re.compile(r"""[A-Za-z0-9_-]+|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\"""")


def split_error(line: str) -> tuple[FieldPath | None, str]:
    """An error line as (path, text); path None for `(file)`. Fails on a malformed line."""
    assert "\n" not in line, f"an error line spans several lines: {line!r}"
    if line.startswith("(file): "):
        return None, line.removeprefix("(file): ")
    parts: list[str] = []
    position = 0
    while True:
        match = _TOKEN.match(line, position)
        assert match, f"error line does not start with a dotted field path: {line!r}"
        token = match.group()
        parts.append(ast.literal_eval(token) if token[0] in "'\"" else token)
        position = match.end()
        if line.startswith(": ", position):
            return tuple(parts), line[position + 2:]
        assert line[position:position + 1] == ".", f"malformed path in {line!r}"
        position += 1


def check_error_line(line: str) -> tuple[FieldPath | None, str]:
    """The line names a real field (or `(file)`; or an unknown key inside a real table)."""
    path, text = split_error(line)
    assert text.strip(), f"error line without a message: {line!r}"
    if path is None:
        return path, text
    if text.startswith("unknown field"):
        table = spec_at(path[:-1])
        assert table is not None and table.kind == "model", line
        assert path[-1] not in table.model.model_fields, line
    else:
        assert spec_at(path) is not None, f"error names no field of the model: {line!r}"
    return path, text


def value_forms(value: Any) -> set[str]:
    """How a value may appear in an error: its repr, its TOML text, as a float if it was an int
    given for a float field; cut as the loader cuts long values."""
    forms = {repr(value), toml_value(value)}
    if isinstance(value, date):
        forms.add(value.isoformat())
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**1023:
        forms.add(repr(float(value)))
    return {form[:SHOWN_VALUE_CHARS] for form in forms}


def names_edit(path: FieldPath, text: str, edit: Edit) -> bool:
    """One refused edit is named: its path with its value, or (a contradiction reported on a
    sibling) `leaf=value` in the sibling's message, or (a problem of a whole list: weights,
    sides, duplicates) the list's path."""
    target = tuple(str(p) for p in edit.path)
    scalar = edit.value is not DELETE and not isinstance(edit.value, (list, dict))
    forms = value_forms(edit.value) if edit.value is not DELETE else {""}
    if path == target:
        return not scalar or any(form in text for form in forms)
    if path[:len(target)] == target:  # inside a table or list that was set
        return not scalar
    if target[:len(path)] == path:  # the list or table containing the field
        return True
    mentions = (f"{target[-1]}=", f"{'.'.join(target)}=")
    if edit.value is DELETE:
        return path[:-1] == target[:-1] and any(m in text for m in mentions)
    return any(f"{m}{form}" in text for m in mentions for form in forms) and (
        path[:-1] == target[:-1] or f"{'.'.join(target)}=" in text)


def check_valid(book: Portfolio, document: dict[str, Any]) -> None:
    """A loaded file means what it says: every written value is in the model unchanged, and the
    portfolio is consistent (the promises the rest of the pipeline relies on)."""
    def same(model: Any, written: Any, where: str) -> None:
        if isinstance(written, dict):
            for key, value in written.items():
                same(getattr(model, key), value, f"{where}.{key}")
        elif isinstance(written, list) and written and isinstance(written[0], dict):
            assert len(model) == len(written), where
            for i, (m, w) in enumerate(zip(model, written)):
                same(m, w, f"{where}.{i}")
        else:
            assert model == written and type(model) in (type(written), float), (where, model, written)
    same(book, document, "")
    assert math.isfinite(book.share_count) and 0 < book.share_count <= MAX_SHARES
    assert book.loan.target_ltv < book.loan.margin_call_ltv < book.loan.liquidation_ltv < 1
    assert 0 < book.alerts.warn_ltv < book.alerts.critical_ltv <= book.loan.liquidation_ltv
    assert book.start_date >= GLD_INCEPTION or book.collateral.symbol != "GLD"
    for hedge in book.hedges:
        assert GLD_INCEPTION <= hedge.entry_date <= hedge.expiry
    ids = [hedge.position_id for hedge in book.hedges]
    assert len(set(ids)) == len(ids)
    template_ids = [t.id for t in book.strategies]
    assert len(set(template_ids)) == len(template_ids) and not set(template_ids) & SYSTEM_TEMPLATE_IDS
    c = book.collateral
    if c.start_value is not None and (c.shares is not None or c.ounces is not None):
        assert math.isclose(book.share_count, c.start_value / c.entry_price, rel_tol=1e-6)
    for template in book.strategies:
        assert any(leg.side == "long" for leg in template.legs)


def load_generated(tmp_path: Path, mutations: list[Mutation]) -> tuple[dict[str, Any], list[Mutation],
                                                                     Portfolio | PortfolioConfigError]:
    """Apply the mutations to the example, write real TOML, load it; (document, applied, outcome)."""
    document = base_document()
    applied = []
    for mutation in mutations:
        if all([apply(document, edit) for edit in mutation.edits]):
            applied.append(mutation)
    text = toml_document(document)
    assert same_document(tomllib.loads(text), document), "the test's TOML writer is wrong"
    path = tmp_path / "portfolio.toml"
    path.write_text(text, encoding="utf-8")
    try:
        return document, applied, load_portfolio(path)
    except PortfolioConfigError as error:
        return document, applied, error


def test_the_base_document_and_its_toml_text_load_unchanged(tmp_path: Path) -> None:
    """The starting point is valid, so every refusal below comes from an edit."""
    document, applied, outcome = load_generated(tmp_path, [])
    assert isinstance(outcome, Portfolio), outcome
    check_valid(outcome, document)
    assert len(ALL_PATHS) >= 70 and ("strategies", 0, "legs", 0, "weight") in ALL_PATHS


@FUZZ
@given(mutation=MUTATION)
@example(mutation=Mutation("set", (Edit(("collateral", "start_value"), 5e-324),
                                   Edit(("collateral", "entry_price"), 1e6),
                                   Edit(("collateral", "shares"), DELETE)), refused=True,
                           named=("collateral.start_value",)))
@example(mutation=Mutation("unknown", (Edit(("loan", "x\ny"), 1),), refused=True, named=("loan.'x\\ny'",)))
def test_one_change_is_accepted_exactly_or_refused_naming_field_and_value(tmp_path: Path,
                                                                         mutation: Mutation) -> None:
    """One edit of the example (one field, or one contradiction): a valid result means exactly
    the values written; a refusal names the edited field and its value on a well-formed line."""
    document, applied, outcome = load_generated(tmp_path, [mutation])
    event(f"{mutation.kind}: {'accepted' if isinstance(outcome, Portfolio) else 'refused'}")
    if isinstance(outcome, Portfolio):
        assert not mutation.refused, f"{mutation} was accepted"
        check_valid(outcome, document)
        return
    lines = [check_error_line(line) for line in outcome.errors]
    assert lines, "a refusal without any error line"
    if mutation.named:
        assert any(text and path is not None and dotted(path) in mutation.named for path, text in lines), \
            (mutation, outcome.errors)
    if len(mutation.edits) == 1:
        edit = mutation.edits[0]
        assert any(path is not None and names_edit(path, text, edit) for path, text in lines), \
            (edit, outcome.errors)


@FUZZ
@given(mutations=st.lists(MUTATION, min_size=2, max_size=5))
def test_several_changes_are_refused_together_and_only_for_what_was_changed(
        tmp_path: Path, mutations: list[Mutation]) -> None:
    """Several edits at once: a must-refuse edit that no later edit undid is refused, and every
    error line is about one of the edits (no invented or misplaced problem)."""
    document, applied, outcome = load_generated(tmp_path, mutations)
    event("accepted" if isinstance(outcome, Portfolio) else "refused")
    edited = [edit.path for mutation in applied for edit in mutation.edits]

    def undone(i: int, mutation: Mutation) -> bool:
        """A later edit near its scope may undo any edit; a contradiction depends on the other
        fields' values too, so any other edit near its scope may undo it."""
        others = applied[i + 1:] if mutation.kind in ("set", "unknown") else applied[:i] + applied[i + 1:]
        return any(related(edit.path, scope) for other in others for edit in other.edits for scope in mutation.scope)

    still_refused = [m for i, m in enumerate(applied) if m.refused and not undone(i, m)]
    if isinstance(outcome, Portfolio):
        assert not still_refused, f"{still_refused} accepted"
        check_valid(outcome, document)
        return
    named = {name for mutation in applied for name in mutation.named}  # e.g. both hedges of a repeated id
    for line in outcome.errors:
        path, text = check_error_line(line)
        assert path is not None, line
        assert dotted(path) in named or any(
            related(path, tuple(str(p) for p in target)) or f"{dotted(target)}=" in text for target in edited
        ), (line, edited)


# ---- files that are not UTF-8 text or not TOML ------------------------------------------------

EXAMPLE_BYTES = EXAMPLE_TEXT.encode("utf-8")
INVALID_UTF8 = [b"\xff", b"\xfe", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80",
                b"\xc0\xaf"]


@st.composite
def broken_file(draw: st.DrawFn) -> bytes:
    """Random bytes; the example with bytes inserted, replaced or cut; invalid UTF-8 inside it."""
    how = draw(st.sampled_from(["random", "insert", "truncate", "invalid_utf8", "text", "bom"]))
    if how == "random":
        return draw(st.binary(max_size=2000))
    if how == "text":
        return draw(st.text(max_size=500)).encode("utf-8")
    at = draw(st.integers(0, len(EXAMPLE_BYTES)))
    if how == "insert":
        return EXAMPLE_BYTES[:at] + draw(st.binary(min_size=1, max_size=8)) + EXAMPLE_BYTES[at:]
    if how == "truncate":
        return EXAMPLE_BYTES[:at]
    if how == "bom":
        return b"\xef\xbb\xbf" + EXAMPLE_BYTES
    return EXAMPLE_BYTES[:at] + draw(st.sampled_from(INVALID_UTF8)) + EXAMPLE_BYTES[at:]


def first_bad_utf8_line(content: bytes) -> int | None:
    """1-based line of the first byte that is not UTF-8, found line by line (a multi-byte
    sequence never spans a newline byte)."""
    content = content.removeprefix(b"\xef\xbb\xbf")
    for number, line in enumerate(content.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return None


@FUZZ
@given(content=broken_file())
@example(content=b"\xef\xbb\xbf" + EXAMPLE_BYTES)
@example(content=b"name = " + b"[" * 5000 + b"]" * 5000)
@example(content=b"a = {b = " * 3000 + b"1" + b"}" * 3000)
def test_broken_files_are_refused_with_a_file_level_reason(tmp_path: Path, content: bytes) -> None:
    """Not UTF-8: one `(file)` line with the line number of the first bad byte. Not TOML: one
    `(file)` line with TOML's own line/column. Otherwise ordinary field errors (or a valid
    portfolio, e.g. a byte inserted in a comment). Never another exception."""
    path = tmp_path / "portfolio.toml"
    path.write_bytes(content)
    try:
        book = load_portfolio(path)
        event("accepted")
    except PortfolioConfigError as error:
        lines = [check_error_line(line) for line in error.errors]
        bad_line = first_bad_utf8_line(content)
        if bad_line is not None:
            assert len(lines) == 1 and lines[0][0] is None, error.errors
            assert lines[0][1].startswith("not UTF-8 text") and f"at line {bad_line} " in lines[0][1], \
                (bad_line, error.errors)
            return
        text = content.decode("utf-8-sig")
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            assert len(lines) == 1 and lines[0][0] is None and lines[0][1].startswith("not valid TOML"), error.errors
            assert re.search(r"\(at (line \d+, column \d+|end of document)\)", lines[0][1]), error.errors
        except RecursionError:
            assert lines == [(None, "cannot be parsed: arrays or inline tables nested too deeply")], error.errors
        else:
            assert all(p is not None for p, _ in lines), error.errors
        return
    check_valid(book, tomllib.loads(content.decode("utf-8-sig")))


def test_unreadable_paths_are_file_level_errors(tmp_path: Path) -> None:
    """A missing file, a directory and an unreadable file: one `(file)` line each."""
    for target, reason in [(tmp_path / "absent.toml", "file not found"), (tmp_path, "is a directory")]:
        with pytest.raises(PortfolioConfigError) as caught:
            load_portfolio(target)
        assert caught.value.errors[0].startswith(f"(file): {reason}"), caught.value.errors
    locked = tmp_path / "locked.toml"
    locked.write_text(EXAMPLE_TEXT)
    locked.chmod(0)
    try:
        readable = locked.open("rb")
    except PermissionError:
        with pytest.raises(PortfolioConfigError) as caught:
            load_portfolio(locked)
        assert caught.value.errors == ["(file): cannot be read: Permission denied"]
    else:  # running as root: permissions do not stop reading
        readable.close()
    finally:
        locked.chmod(0o600)


def test_regressions_found_by_the_generators(tmp_path: Path) -> None:
    """Inputs that crashed or were silently accepted before the fixes in pipeline/config.py."""
    path = tmp_path / "portfolio.toml"
    cases = {
        # RecursionError out of tomllib
        "zz = " + "[" * 5000 + "]" * 5000 + "\n" + EXAMPLE_TEXT:
            "(file): cannot be parsed: arrays or inline tables nested too deeply",
        # 5e-324 / 1e6 = 0.0 shares was accepted: LTV would divide by zero
        EXAMPLE_TEXT.replace("shares = 1000 ", "start_value = 5e-324\nentry_price = 1e6\n"):
            "collateral.start_value: means 0 GLD shares; the share count must be above 0 and at most 1e+09 "
            "(got 5e-324)",
        # 1e12 / 1e-300 = inf shares was accepted
        EXAMPLE_TEXT.replace("shares = 1000 ", "start_value = 1e12\nentry_price = 1e-300\n"):
            "collateral.start_value: means inf GLD shares; the share count must be above 0 and at most 1e+09 "
            "(got 1000000000000.0)",
        # a newline inside an unknown key broke the one-line-per-problem listing
        EXAMPLE_TEXT.replace("[loan]", '[loan]\n"x\\ny" = 1'): "loan.'x\\ny': unknown field (value 1)",
        # a huge integer for a number was reported as "not a valid number"
        EXAMPLE_TEXT.replace("amount = 275000.0", "amount = 1" + "0" * 400):
            "loan.amount: Input should be a number, but this integer is too large for one (above 1.8e308) "
            "(got 1" + "0" * (SHOWN_VALUE_CHARS - 1) + "... (401 characters))",
        # start_value without entry_price did not say which start_value
        EXAMPLE_TEXT.replace("shares = 1000 ", "start_value = 398280.0\n"):
            "collateral.entry_price: required together with start_value=398280.0 (got None)",
    }
    for text, expected in cases.items():
        path.write_text(text, encoding="utf-8")
        with pytest.raises(PortfolioConfigError) as caught:
            load_portfolio(path)
        assert caught.value.errors == [expected]
    path.write_bytes(b"\xef\xbb\xbf" + EXAMPLE_BYTES)  # a BOM (Windows editors) was "not valid TOML"
    assert load_portfolio(path) == load_portfolio(PROJECT_ROOT / "portfolio.toml")
