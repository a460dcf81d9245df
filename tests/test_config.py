"""portfolio.toml validation: good files load, every bad file is refused with named fields and values."""

from __future__ import annotations

import copy
import math
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import PortfolioConfigError, load_portfolio, parse_portfolio
from pipeline.paths import PROJECT_ROOT

VALID: dict[str, Any] = {
    "name": "Test loan",
    "start_date": date(2026, 1, 2),
    "risk_profile": "balanced",
    "collateral": {"symbol": "GLD", "shares": 1000.0},
    "loan": {"amount": 275000.0, "margin_call_ltv": 0.75, "liquidation_ltv": 0.90, "target_ltv": 0.60},
    "alerts": {"warn_ltv": 0.70, "critical_ltv": 0.75, "recipients": ["owner@example.com"],
               "cooldown_hours": 24.0, "hedge_expiry_days": 14},
    "triage": {"roll_dte": 21, "harvest_multiple": 2.0},
    "hedges": [
        {"id": "dec-380-put", "right": "put", "strike": 380.0, "expiry": date(2026, 12, 18),
         "contracts": 5, "entry_date": date(2026, 6, 1), "premium": 14.5},
    ],
}


def toml_text(document: dict[str, Any]) -> str:
    """A minimal TOML writer for the shapes above (tables, arrays of tables, scalars, lists)."""

    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            if math.isnan(value):
                return "nan"
            if math.isinf(value):
                return "inf" if value > 0 else "-inf"
            return repr(value)
        if isinstance(value, (int, date)):
            return str(value) if not isinstance(value, date) else value.isoformat()
        if isinstance(value, list):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k} = {scalar(v)}" for k, v in value.items()) + "}"
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines: list[str] = []
    tables = {k: v for k, v in document.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in document.items()
              if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)}
    for key, value in document.items():
        if key not in tables and key not in arrays:
            lines.append(f"{key} = {scalar(value)}")
    for key, table in tables.items():
        lines.append(f"\n[{key}]")
        lines += [f"{k} = {scalar(v)}" for k, v in table.items()]
    for key, items in arrays.items():
        for item in items:
            lines.append(f"\n[[{key}]]")
            lines += [f"{k} = {scalar(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def test_valid_document_and_the_example_file_load() -> None:
    book = parse_portfolio(copy.deepcopy(VALID))
    assert book.share_count == 1000.0
    assert book.hedges[0].position_id == "dec-380-put"
    example = load_portfolio(PROJECT_ROOT / "portfolio.toml")
    assert example.share_count > 0 and example.loan.amount > 0


def test_toml_writer_round_trips_the_valid_document(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(toml_text(VALID))
    assert load_portfolio(path) == parse_portfolio(copy.deepcopy(VALID))


def test_value_basis_derives_shares_and_ounces_basis_uses_the_start_date_ratio() -> None:
    """start_value 398,280 at entry 398.28 -> 1,000 shares. 91.8927 oz on 2026-01-02, at
    0.1 x (1 - 0.004/365)^7715 = 0.0918927 oz/share (7,715 days after 2004-11-18) -> 1,000.0 shares."""
    by_value = copy.deepcopy(VALID)
    by_value["collateral"] = {"start_value": 398280.0, "entry_price": 398.28}
    book = parse_portfolio(by_value)
    assert book.share_count == pytest.approx(1000.0, rel=1e-12)
    assert book.collateral_basis == "value"
    by_ounces = copy.deepcopy(VALID)
    by_ounces["collateral"] = {"ounces": 91.8927}
    book = parse_portfolio(by_ounces)
    assert (date(2026, 1, 2) - date(2004, 11, 18)).days == 7715
    assert book.share_count == pytest.approx(91.8927 / (0.1 * (1 - 0.004 / 365) ** 7715), rel=1e-12)
    assert book.share_count == pytest.approx(1000.0, abs=0.01)
    assert book.start_ounces == pytest.approx(91.8927, rel=1e-12)
    both = copy.deepcopy(VALID)
    both["collateral"] = {"shares": 1000.0, "start_value": 398280.0, "entry_price": 398.28}
    assert parse_portfolio(both).share_count == 1000.0


def test_several_problems_are_reported_together_with_field_and_value() -> None:
    bad = copy.deepcopy(VALID)
    bad["collateral"]["shares"] = -5.0
    bad["loan"]["target_ltv"] = 0.8
    bad["alerts"]["recipients"] = ["not-an-address"]
    bad["hedges"][0]["contracts"] = 0
    bad["risk_profile"] = "yolo"
    with pytest.raises(PortfolioConfigError) as caught:
        parse_portfolio(bad, "bad.toml")
    text = "\n".join(caught.value.errors)
    assert len(caught.value.errors) == 5, text
    for field, value in [("collateral.shares", "-5.0"), ("loan.target_ltv", "0.8"),
                         ("alerts.recipients.0", "'not-an-address'"), ("hedges.0.contracts", "0"),
                         ("risk_profile", "'yolo'")]:
        assert any(line.startswith(f"{field}:") and value in line for line in caught.value.errors), (field, text)


@pytest.mark.parametrize(
    ("section", "change", "field"),
    [
        ("collateral", {"start_value": 300000.0, "entry_price": 398.28}, "collateral.shares"),
        ("collateral", {"ounces": 90.0}, "collateral.ounces"),
        ("collateral", {"shares": None, "entry_price": 398.28}, "collateral.start_value"),
        ("loan", {"margin_call_ltv": 0.95}, "loan.liquidation_ltv"),
        ("alerts", {"warn_ltv": 0.80}, "alerts.warn_ltv"),
        ("alerts", {"critical_ltv": 0.95}, "alerts.critical_ltv"),
        ("hedges", {"entry_date": date(2027, 1, 4)}, "hedges.0.entry_date"),
    ],
)
def test_contradictions_are_rejected_naming_the_field(section: str, change: dict[str, Any], field: str) -> None:
    bad = copy.deepcopy(VALID)
    target = bad[section][0] if section == "hedges" else bad[section]
    for key, value in change.items():
        if value is None:
            target.pop(key)
        else:
            target[key] = value
    with pytest.raises(PortfolioConfigError) as caught:
        parse_portfolio(bad)
    assert any(line.startswith(f"{field}:") for line in caught.value.errors), caught.value.errors


def test_duplicate_hedge_ids_are_rejected() -> None:
    bad = copy.deepcopy(VALID)
    bad["hedges"] = [dict(bad["hedges"][0]), dict(bad["hedges"][0])]
    with pytest.raises(PortfolioConfigError) as caught:
        parse_portfolio(bad)
    assert [line.split(":")[0] for line in caught.value.errors] == ["hedges.0.id", "hedges.1.id"]


# ---- property-based: generated bad files --------------------------------------------------------

NUMERIC_FIELDS = [
    ("collateral", "shares"), ("loan", "amount"), ("loan", "margin_call_ltv"), ("loan", "liquidation_ltv"),
    ("loan", "target_ltv"), ("alerts", "warn_ltv"), ("alerts", "critical_ltv"), ("alerts", "cooldown_hours"),
    ("alerts", "hedge_expiry_days"), ("triage", "roll_dte"), ("triage", "harvest_multiple"),
    ("hedges", "strike"), ("hedges", "contracts"), ("hedges", "premium"),
]
ZERO_IS_VALID = {"cooldown_hours", "hedge_expiry_days"}
REQUIRED = [(None, "start_date"), (None, "collateral"), (None, "loan"), ("loan", "amount"),
            ("hedges", "right"), ("hedges", "strike"), ("hedges", "expiry"), ("hedges", "contracts"),
            ("hedges", "entry_date"), ("hedges", "premium")]
BAD_NUMBERS = st.sampled_from([0, 0.0, -1, -0.5, -1e9, math.nan, math.inf, -math.inf, 1e30, 10**30,
                               True, False, "1000", "", [1.0]])


def _section(document: dict[str, Any], section: str | None) -> dict[str, Any]:
    if section is None:
        return document
    return document[section][0] if section == "hedges" else document[section]


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, Any]:
    """One change that makes a valid document invalid: (path the error must name, function)."""
    kind = draw(st.sampled_from(["number", "missing", "unknown", "contradiction", "type", "text"]))
    if kind == "number":
        section, field = draw(st.sampled_from(NUMERIC_FIELDS))
        value = draw(BAD_NUMBERS)
        if field in ZERO_IS_VALID and value == 0 and not isinstance(value, bool):
            value = -1
        return f"{section}.", lambda d: _section(d, section).__setitem__(field, value)
    if kind == "missing":
        section, field = draw(st.sampled_from(REQUIRED))
        return field, lambda d: _section(d, section).pop(field, None)
    if kind == "unknown":
        section = draw(st.sampled_from([None, "collateral", "loan", "alerts", "triage", "hedges"]))
        name = draw(st.from_regex(r"[a-z]{3,10}_x", fullmatch=True))
        return name, lambda d: _section(d, section).__setitem__(name, 1)
    if kind == "type":
        section, field, value = draw(st.sampled_from([
            (None, "start_date", "2026-01-02"), (None, "start_date", 20260102), ("hedges", "expiry", "Dec"),
            ("hedges", "right", "straddle"), (None, "risk_profile", "reckless"), ("collateral", "symbol", "gld!"),
            ("alerts", "recipients", "owner@example.com"), ("alerts", "recipients", ["a b@c.d"]),
            ("hedges", "id", "has space"), (None, "name", ""), ("collateral", "symbol", 7),
        ]))
        return field, lambda d: _section(d, section).__setitem__(field, value)
    if kind == "text":
        long_name = draw(st.text(min_size=201, max_size=260))
        return "name", lambda d: d.__setitem__("name", long_name)
    which = draw(st.sampled_from(["shares_value", "ltv_order", "warn_critical", "critical_liq", "entry_expiry",
                                  "shares_ounces", "early_start", "ounces_symbol"]))
    factor = draw(st.floats(min_value=1.01, max_value=3.0))

    def contradict(d: dict[str, Any]) -> None:
        c, loan, alerts, hedge = d["collateral"], d["loan"], d["alerts"], d["hedges"][0]
        if which == "shares_value":
            c.update(start_value=398280.0 * factor, entry_price=398.28)
        elif which == "ltv_order":
            loan.update(target_ltv=0.9, margin_call_ltv=0.75 / factor)
        elif which == "warn_critical":
            alerts.update(warn_ltv=0.75, critical_ltv=0.75 / factor)
        elif which == "critical_liq":
            alerts.update(critical_ltv=0.95)
        elif which == "entry_expiry":
            hedge.update(entry_date=date(2027, 1, int(factor * 9)))
        elif which == "shares_ounces":
            c.update(ounces=90.0 * factor)
        elif which == "early_start":
            d["start_date"] = date(2004, 11, int(factor * 5))
        else:
            c.pop("shares")
            c.update(symbol="IAU", ounces=50.0 * factor)
    names = {"shares_value": "collateral.shares", "ltv_order": "loan.target_ltv", "warn_critical": "alerts.warn_ltv",
             "critical_liq": "alerts.critical_ltv", "entry_expiry": "hedges.0.entry_date",
             "shares_ounces": "collateral.ounces", "early_start": "start_date", "ounces_symbol": "collateral.ounces"}
    return names[which], contradict


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(mutation(), min_size=1, max_size=3))
def test_generated_bad_files_are_all_refused_with_the_field_named(tmp_path: Path,
                                                                 changes: list[tuple[str, Any]]) -> None:
    """>= 250 generated bad files: no crash (only PortfolioConfigError), no silent acceptance."""
    document = copy.deepcopy(VALID)
    applied: list[str] = []
    for name, change in changes:
        try:
            change(document)
        except (KeyError, IndexError, TypeError):  # an earlier change removed the section
            continue
        applied.append(name)
    path = tmp_path / "generated.toml"
    path.write_text(toml_text(document), encoding="utf-8")
    with pytest.raises(PortfolioConfigError) as caught:
        load_portfolio(path)
    errors = caught.value.errors
    assert errors and all(isinstance(line, str) and ": " in line for line in errors)
    report = "\n".join(errors)
    # At least one of the applied changes is named (others may be masked by an earlier one,
    # e.g. a removed [loan] table hides a bad loan value).
    assert any(name in report for name in applied) or "not valid TOML" in report, (applied, report)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_garbage_files_are_refused_without_crashing(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.toml"
    path.write_bytes(content)
    with pytest.raises(PortfolioConfigError):
        load_portfolio(path)


def test_missing_file_and_directory_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(PortfolioConfigError, match="file not found"):
        load_portfolio(tmp_path / "absent.toml")
    with pytest.raises(PortfolioConfigError, match="directory"):
        load_portfolio(tmp_path)


def test_an_invalid_file_stops_the_dagster_run_before_anything_is_written(sandbox, materialize_all) -> None:
    """Materialize everything with a bad portfolio into a fresh temp warehouse: no table gets a row."""
    import duckdb

    bad = copy.deepcopy(VALID)
    bad["loan"]["amount"] = -1.0
    sandbox.write_portfolio(toml_text(bad))
    result = materialize_all(sandbox.resources(), raise_on_error=False)
    assert not result.success
    failures = [event for event in result.all_events
                if event.event_type_value in ("RESOURCE_INIT_FAILURE", "STEP_FAILURE")]
    assert failures and "loan.amount" in str(failures[0].event_specific_data)
    if sandbox.warehouse.exists():
        with duckdb.connect(str(sandbox.warehouse), read_only=True) as conn:
            tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                  "WHERE table_type = 'BASE TABLE'").fetchall()
            filled = {f"{s}.{t}": n for s, t in tables
                      if (n := conn.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0])}
        assert filled == {}
    assert not any(sandbox.reports_dir.glob("*.pdf")) and not (sandbox.site_dir / "index.html").exists()
