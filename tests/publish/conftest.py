"""Shared fixtures: one `DashboardData` built by the real pipeline code from the embedded real data.

The portfolio: a 250,000 USD loan against 1,000 GLD shares from 2025-06-02, margin call at 75% LTV,
liquidation at 90%, target 60%, warn at 70%, and the two puts of portfolio.toml. On the last day,
2026-10-06 (GLD 382.27):

    ltv                     = 250,000 / 382,270        = 65.4%
    margin_call_price       = 250,000 / (1,000 x 0.75) = 333.33
    distance_to_margin_call = 1 - 333.33 / 382.27      = 12.8%
    liquidation_price       = 250,000 / (1,000 x 0.90) = 277.78
    cure_amount             = 250,000 - 0.60 x 382,270 = 20,638

The hedges are marked and the hedged figures solved by pipeline.portfolio (the model chain of
2026-10-06 marks them that day). The alert log is two runs of pipeline.alerts.state; one raw input
is stale, so every page carries the stale banner.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.alerts.rules import ACTIVE_SCHEMA
from pipeline.alerts.state import empty_alert_log, update_alert_log
from pipeline.config import Portfolio, parse_portfolio
from pipeline.market import embedded
from pipeline.portfolio.hedged import hedged_margin_call_prices
from pipeline.portfolio.ltv import ltv_daily
from pipeline.portfolio.positions import hedge_totals_daily, market_surface, positions_daily
from pipeline.pricing.chain import model_chain, model_chain_inputs, value_quotes
from pipeline.pricing.skew import atm_vol_daily
from pipeline.publish.data import CheckResult, DashboardData
from pipeline.publish.site import publish_site, vega_bundle
from pipeline.publish.strategies import (
    StrategiesContext,
    StrategyTables,
    build_strategies_context,
    read_strategy_tables,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GLD_CSV = PROJECT_ROOT / "data" / "embedded" / "gld_daily.csv"
TEMPLATES_DIR = PROJECT_ROOT / "site_templates"

SHARES = 1_000.0
LOAN = 250_000.0
MARGIN_CALL_LTV = 0.75
PORTFOLIO_NAME = "Gold Lombard 2025"
GENERATED_AT = datetime(2026, 10, 7, 6, 30, tzinfo=timezone.utc)
LAST_DAY = date(2026, 10, 6)
PORTFOLIO_TOML = f"""
name = "{PORTFOLIO_NAME}"
start_date = 2025-06-02
risk_profile = "balanced"

[collateral]
shares = {SHARES}

[loan]
amount = {LOAN}
margin_call_ltv = {MARGIN_CALL_LTV}
liquidation_ltv = 0.90
target_ltv = 0.60

[alerts]
warn_ltv = 0.70
critical_ltv = 0.75

[[hedges]]
id = "dec-380-put"
right = "put"
strike = 380.0
expiry = 2026-12-18
contracts = 3
entry_date = 2026-06-01
premium = 15.20

[[hedges]]
id = "oct-400-put"
right = "put"
strike = 400.0
expiry = 2026-10-16
contracts = 2
entry_date = 2026-07-01
premium = 37.80
"""
STALE_REASON = "live fetch failed: yfinance unreachable (timeout after 20s); stored data kept"
CHECKS = (
    CheckResult("raw/prices_daily", "non_empty", "passed", "ERROR", "raw.prices_daily has 5504 rows",
                GENERATED_AT - timedelta(minutes=3), "0f3c9a12-run"),
    CheckResult("raw/rates_daily", "fresh", "failed", "WARN", "rates: last print 2026-08-12, 55 days old",
                GENERATED_AT - timedelta(minutes=3), "0f3c9a12-run"),
    CheckResult("raw/gvz_daily", "fresh", "not evaluated", None, "no finished evaluation recorded yet", None, None),
)


@pytest.fixture(scope="session")
def templates_dir() -> Path:
    return TEMPLATES_DIR


@pytest.fixture(scope="session")
def portfolio() -> Portfolio:
    return parse_portfolio(tomllib.loads(PORTFOLIO_TOML))


@pytest.fixture(scope="session")
def market() -> dict[str, pl.DataFrame]:
    """The embedded real GLD, GVZ and T-bill history as the raw tables hold it."""
    return {"prices": embedded.load_prices("GLD", GENERATED_AT), "gvz": embedded.load_gvz(GENERATED_AT),
            "rates": embedded.load_rates(GENERATED_AT)}


@pytest.fixture(scope="session")
def chain_frame(market: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """analytics.chain_latest: the model chain of the last GLD day, valued as the pipeline does."""
    prices, gvz, rates = market["prices"], market["gvz"], market["rates"]
    inputs = model_chain_inputs(LAST_DAY, prices, atm_vol_daily(gvz, prices), rates)
    quotes = model_chain(LAST_DAY, inputs["spot"], inputs["atm_vol"], inputs["rate"], GENERATED_AT)
    return value_quotes(quotes, rates).sort("expiry", "option_right", "strike")


@pytest.fixture(scope="session")
def positions_frame(portfolio: Portfolio, market: dict[str, pl.DataFrame], chain_frame: pl.DataFrame) -> pl.DataFrame:
    """analytics.positions_daily of the two puts, marked from the chain on its day."""
    surface = market_surface(market["prices"], market["gvz"], market["rates"])
    return positions_daily(portfolio, surface, chain_frame).sort("date", "position_id")


@pytest.fixture(scope="session")
def ltv_frame(portfolio: Portfolio, market: dict[str, pl.DataFrame], positions_frame: pl.DataFrame) -> pl.DataFrame:
    """analytics.ltv_daily, as assets/analytics.py computes it."""
    hedges = hedge_totals_daily(positions_frame).join(
        hedged_margin_call_prices(positions_frame, SHARES, LOAN, MARGIN_CALL_LTV), on="date", how="left")
    return ltv_daily(market["prices"], portfolio, hedges)


def ingest_status(stale_table: str | None = "raw.rates_daily") -> pl.DataFrame:
    """raw.ingest_status: embedded history, a model chain, and `stale_table` stale (None: none is)."""
    spans = {"raw.gvz_daily": (4_591, date(2008, 6, 3), date(2026, 8, 28)),
             "raw.option_quotes": (3_044, LAST_DAY, LAST_DAY),
             "raw.prices_daily": (5_504, date(2004, 11, 18), LAST_DAY),
             "raw.rates_daily": (18_144, date(1954, 1, 4), date(2026, 8, 12))}
    rows = []
    for table, (count, first, last) in spans.items():
        status, reason = ("model", "live mode off: model chain (GVZ + skew model), not market quotes") \
            if table == "raw.option_quotes" else ("embedded", "live mode off (set VAULT_LIVE=1 to fetch from yfinance)")
        if table == stale_table:
            status, reason = "stale", STALE_REASON
        rows.append({"table_name": table, "ingested_at": GENERATED_AT - timedelta(minutes=5), "status": status,
                     "reason": reason, "rows": count, "first_date": first, "last_date": last})
    return pl.DataFrame(rows)


def _active(*alerts: tuple[str, str, str, str]) -> pl.DataFrame:
    return pl.DataFrame([{"rule": rule, "subject": subject, "level": level, "message": message, "values": "{}"}
                         for rule, subject, level, message in alerts], schema=ACTIVE_SCHEMA)


FIRST_RUN = GENERATED_AT - timedelta(days=2)
SECOND_RUN = GENERATED_AT - timedelta(days=1)
LTV_WARN = ("ltv_warn", "portfolio", "warning", "LTV 70.4% >= 70.0% warning level (2026-10-02); GLD close 355.12")
EXPIRING = ("hedge_expiring", "oct-400-put", "warning", "Hedge oct-400-put expires in 10 day(s) (<= 14) (2026-10-06)")
TRIAGE = ("hedge_triage", "oct-400-put", "info", "Hedge oct-400-put triage ROLL (2026-10-06); fired by triage rule dte 10 < 21")


def alert_log() -> pl.DataFrame:
    """Two runs of the alert state machine: the LTV warning starts and clears, the October put's
    expiry and ROLL alerts are open. The warning's email went out; the one saying it cleared failed twice."""
    log = update_alert_log(empty_alert_log(), _active(LTV_WARN, EXPIRING), FIRST_RUN)
    log = update_alert_log(log, _active(EXPIRING, TRIAGE), SECOND_RUN)
    warn_enter = (pl.col("rule") == "ltv_warn") & (pl.col("event") == "enter")
    warn_leave = (pl.col("rule") == "ltv_warn") & (pl.col("event") == "leave")
    return log.with_columns(
        delivery_status=pl.when(warn_enter).then(pl.lit("sent")).otherwise("delivery_status"),
        attempts=pl.when(warn_enter).then(1).when(warn_leave).then(2).otherwise("attempts"),
        sent_at=pl.when(warn_enter).then(pl.lit(FIRST_RUN)).otherwise("sent_at"),
        last_error=pl.when(warn_leave).then(pl.lit("SMTP connect to mail.example.com:587 refused"))
        .otherwise("last_error"),
    )


@pytest.fixture(scope="session")
def dashboard_data(ltv_frame: pl.DataFrame, positions_frame: pl.DataFrame, market: dict[str, pl.DataFrame],
                   chain_frame: pl.DataFrame, strategy_tables: StrategyTables, all_gld_closes: pl.DataFrame,
                   tmp_path_factory: pytest.TempPathFactory) -> DashboardData:
    """Everything the site shows, as the publish asset reads it (checks passed in as from Dagster)."""
    from tests.publish.backtest_rows import backtest_frames, load_backtest_tables

    backtests = load_backtest_tables(tmp_path_factory.mktemp("backtests") / "vault.duckdb",
                                     backtest_frames(all_gld_closes))
    return DashboardData(
        portfolio_name=PORTFOLIO_NAME, risk_profile=PORTFOLIO_PROFILE, symbol="GLD", warn_ltv=0.70,
        critical_ltv=0.75, generated_at=GENERATED_AT, ltv=ltv_frame, positions=positions_frame,
        prices=market["prices"], ingest_status=ingest_status(), chain=chain_frame, alerts=alert_log(),
        strategies=strategy_tables, checks=CHECKS, backtests=backtests,
    )


@pytest.fixture(scope="session")
def bundle_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide cache holding the Vega bundle, built once (takes ~2 s)."""
    cache_dir = tmp_path_factory.mktemp("vega-bundle-cache")
    vega_bundle(cache_dir)
    return cache_dir


@pytest.fixture(scope="session")
def published_site(dashboard_data: DashboardData, templates_dir: Path, bundle_cache_dir: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole site (every page, its data and downloads) published once per session; its folder."""
    out_dir = tmp_path_factory.mktemp("site") / "public"
    publish_site(dashboard_data, out_dir, templates_dir, bundle_cache_dir=bundle_cache_dir)
    return out_dir


# --- Strategy-engine fixtures -------------------------------------------------------------------
# Three templates bought on the 2026-10-06 chain (GLD 382.27), 10 contracts per leg on the 1,000
# shares above. The comparison columns follow the formulas in warehouse/schema/50_analytics_strategies.sql;
# the legs' quotes are realistic listed prices, option values before expiry are Black-Scholes.

STRATEGY_SCHEMA_SQL = PROJECT_ROOT / "warehouse" / "schema" / "50_analytics_strategies.sql"
STRATEGY_VIEWS_SQL = PROJECT_ROOT / "warehouse" / "views" / "strategies.sql"
CHAIN_DAY = date(2026, 10, 6)
SPOT = 382.27
EXPIRY = date(2027, 1, 15)
CONTRACTS_PER_LEG = 10
RATE = 0.04
ATM_VOL = 0.20
METHODOLOGY = "test-1"
PORTFOLIO_PROFILE = "balanced"


@dataclass(frozen=True)
class QuotedLeg:
    right: str  # 'P' | 'C'
    side: str  # long | short
    strike: float
    bid: float
    ask: float
    iv: float

    @property
    def sign(self) -> int:
        return 1 if self.side == "long" else -1

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2

    @property
    def fill(self) -> float:
        return self.ask if self.side == "long" else self.bid

    def occ_symbol(self) -> str:
        return f"GLD{EXPIRY:%y%m%d}{self.right}{round(self.strike * 1000):08d}"

    def value(self, price: float, years: float, vol: float) -> float:
        """Per-share value: intrinsic at expiry, Black-Scholes before."""
        if years <= 0:
            return max(self.strike - price, 0.0) if self.right == "P" else max(price - self.strike, 0.0)
        d1 = (math.log(price / self.strike) + (RATE + vol * vol / 2) * years) / (vol * math.sqrt(years))
        d2 = d1 - vol * math.sqrt(years)
        discount = self.strike * math.exp(-RATE * years)
        if self.right == "C":
            return price * _norm_cdf(d1) - discount * _norm_cdf(d2)
        return discount * _norm_cdf(-d2) - price * _norm_cdf(-d1)


@dataclass(frozen=True)
class FixtureTemplate:
    template_id: str
    display_name: str
    family: str
    legs: tuple[QuotedLeg, ...]
    leg_notes: str = ""

    def hedge_value(self, price: float, years: float, vol: float) -> float:
        return sum(leg.sign * leg.value(price, years, vol) for leg in self.legs) * CONTRACTS_PER_LEG * 100

    def cost(self, quote: str) -> float:
        return sum(leg.sign * getattr(leg, quote) for leg in self.legs) * CONTRACTS_PER_LEG * 100


PUT_363 = QuotedLeg("P", "long", 363.0, 11.00, 11.40, 0.201)
FIXTURE_TEMPLATES = (
    FixtureTemplate("protective_put_95", "Protective put 95 % (3 m)", "protective_put", (PUT_363,)),
    FixtureTemplate("collar_95_110", "Collar 95 / 110 % (3 m)", "collar",
                    (PUT_363, QuotedLeg("C", "short", 420.0, 6.10, 6.50, 0.186))),
    FixtureTemplate("put_spread_95_80", "Put spread 95 / 80 % (3 m)", "put_spread",
                    (PUT_363, QuotedLeg("P", "short", 306.0, 2.35, 2.55, 0.243)),
                    "short leg: 306 strike listed nearest the 305.82 target"),
)


def _frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    """Rows to a frame, typing each column from all its values (leading nulls are common)."""
    return pl.DataFrame(rows, infer_schema_length=None)


def _norm_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _years_left(horizon_days: int) -> float:
    return ((EXPIRY - CHAIN_DAY).days - horizon_days) / 365


def _comparison_row(template: FixtureTemplate) -> dict[str, object]:
    collateral_value = SHARES * SPOT
    cost_fill, cost_mid = template.cost("fill"), template.cost("mid")
    dte = (EXPIRY - CHAIN_DAY).days
    unhedged_call = LOAN / (SHARES * MARGIN_CALL_LTV)
    unhedged_fall = 1 - unhedged_call / SPOT
    long_puts = [leg for leg in template.legs if leg.right == "P" and leg.side == "long"]
    short_puts = [leg for leg in template.legs if leg.right == "P" and leg.side == "short"]
    short_calls = [leg for leg in template.legs if leg.right == "C" and leg.side == "short"]
    # at expiry below every strike the hedge is worth the put spread (unbounded puts: K - price)
    if short_puts:
        protected_width = (long_puts[0].strike - short_puts[0].strike) * SHARES
        hedged_call: float | None = (LOAN / MARGIN_CALL_LTV - protected_width) / SHARES
        floor = protected_width
    else:
        hedged_call = None  # the long put alone keeps LTV under the call at any price
        floor = long_puts[0].strike * SHARES
    hedged_fall = 1.0 if hedged_call is None else 1 - hedged_call / SPOT
    protection_points = (hedged_fall - unhedged_fall) * 100
    return {
        "as_of": CHAIN_DAY, "template_id": template.template_id, "display_name": template.display_name,
        "family": template.family, "chain_source": "model", "status": "ok", "spot": SPOT,
        "collateral_shares": SHARES, "collateral_value": collateral_value, "loan": LOAN, "expiry": EXPIRY,
        "dte": dte, "contracts": CONTRACTS_PER_LEG * len(template.legs), "protected_shares": SHARES,
        "premium_per_share": cost_fill / SHARES, "cost_at_fill": cost_fill, "cost_at_mid": cost_mid,
        "cost_pct_collateral": cost_fill / collateral_value,
        "cost_annualised_pct": cost_fill / collateral_value * 365 / dte,
        "unhedged_margin_call_price": unhedged_call, "hedged_margin_call_price": hedged_call,
        "fall_to_margin_call_unhedged_pct": unhedged_fall, "fall_to_margin_call_hedged_pct": hedged_fall,
        "protection_points": protection_points, "cost_per_protection_point": cost_fill / protection_points,
        "floor_value": floor, "max_loss": collateral_value + cost_fill - floor,
        "breakeven_price": SPOT + cost_fill / SHARES,
        "upside_cap_price": min((leg.strike for leg in short_calls), default=None),
        "leg_notes": template.leg_notes, "methodology_version": METHODOLOGY,
        "inputs_digest": f"test-digest-{template.template_id}",
    }


def _order_preview_rows(template: FixtureTemplate) -> list[dict[str, object]]:
    total = template.cost("fill")
    return [
        {"as_of": CHAIN_DAY, "template_id": template.template_id, "leg_index": i, "contract": leg.occ_symbol(),
         "action": "BUY" if leg.side == "long" else "SELL", "option_right": leg.right, "expiry": EXPIRY,
         "strike": leg.strike, "contracts": CONTRACTS_PER_LEG, "bid": leg.bid, "ask": leg.ask,
         "limit_price": leg.mid, "iv": leg.iv, "est_cost_at_mid": leg.sign * leg.mid * CONTRACTS_PER_LEG * 100,
         "est_cost_at_fill": leg.sign * leg.fill * CONTRACTS_PER_LEG * 100, "total_cash_needed": total,
         "chain_source": "model"}
        for i, leg in enumerate(template.legs)
    ]


def _scenario_rows(template: FixtureTemplate, hedged_call: float | None) -> list[dict[str, object]]:
    rows = []
    for horizon, days in (("now", 0), ("30d", 30), ("expiry", (EXPIRY - CHAIN_DAY).days)):
        for spot_shock in (-0.50, -0.40, -0.30, -0.20, -0.15, -0.10, -0.05, 0.0, 0.05, 0.10, 0.20):
            for vol_shock in (0.0, 0.10, 0.20):
                price = SPOT * (1 + spot_shock)
                hedge = template.hedge_value(price, _years_left(days), ATM_VOL + vol_shock)
                rows.append({
                    "as_of": CHAIN_DAY, "template_id": template.template_id, "horizon": horizon,
                    "horizon_days": days, "spot_shock": spot_shock, "vol_shock": vol_shock, "gld_price": price,
                    "hedge_value": hedge, "unhedged_ltv": LOAN / (SHARES * price),
                    "hedged_ltv": LOAN / (SHARES * price + hedge),
                    "margin_call_unhedged": LOAN / (SHARES * MARGIN_CALL_LTV),
                    "margin_call_hedged": hedged_call,  # the expiry figure at every horizon (a simplification)
                })
    return rows


def _payoff_rows(template: FixtureTemplate) -> list[dict[str, object]]:
    cost = template.cost("fill")
    rows = []
    for horizon, days in (("expiry", (EXPIRY - CHAIN_DAY).days), ("30d", 30)):
        for step in range(101):
            ratio = round(0.5 + step * 0.01, 2)
            price = SPOT * ratio
            value = template.hedge_value(price, _years_left(days), ATM_VOL)
            unhedged = SHARES * price - LOAN
            rows.append({"as_of": CHAIN_DAY, "template_id": template.template_id, "horizon": horizon,
                         "price_ratio": ratio, "gld_price": price, "hedge_value": value, "hedge_pnl": value - cost,
                         "unhedged_equity": unhedged, "hedged_equity": unhedged + value - cost})
    return rows


RECOMMENDATIONS = {  # profile -> ranked (template_id, score, eligible, rationale)
    "conservative": [
        ("collar_95_110", 1.00, True, "Covers the margin call outright for 5.01%/yr, within the 8%/yr budget."),
        ("put_spread_95_80", 0.41, False, "Costs 8.56%/yr, above the 8%/yr budget."),
        ("protective_put_95", 0.38, False, "Costs 10.78%/yr, above the 8%/yr budget."),
    ],
    "balanced": [
        ("protective_put_95", 0.74, True, "Covers the margin call with no upside cap; best protection per dollar."),
        ("collar_95_110", 0.69, True, "Covers the call for less, but caps gains above $420.00."),
        ("put_spread_95_80", 0.35, True, "Gold can fall 27.7% before the call: the least protection."),
    ],
    "aggressive": [
        ("collar_95_110", 0.88, True, "Cheapest template that lets gold fall at least 15% before the call."),
        ("put_spread_95_80", 0.52, True, "Lets gold fall 27.7% for $9,050."),
        ("protective_put_95", 0.31, True, "Lets gold fall any amount, for the most cash: $11,400."),
    ],
}
SENSITIVITY_CHANGES = {  # profile -> {(spot_shock, vol_shock): pick when it differs from rank 1}
    "conservative": {},
    "balanced": {(-0.10, 0.10): "collar_95_110", (-0.05, 0.10): "collar_95_110"},
    "aggressive": {(-0.10, -0.05): "put_spread_95_80"},
}


def _recommendation_rows(risk_profile: str) -> list[dict[str, object]]:
    return [{"as_of": CHAIN_DAY, "risk_profile": risk_profile, "template_id": template_id, "rank": rank,
             "score": score, "eligible": eligible, "is_portfolio_profile": risk_profile == PORTFOLIO_PROFILE,
             "rationale": rationale}
            for rank, (template_id, score, eligible, rationale) in enumerate(RECOMMENDATIONS[risk_profile], start=1)]


def _sensitivity_rows(risk_profile: str) -> list[dict[str, object]]:
    base_id, base_score, _, _ = RECOMMENDATIONS[risk_profile][0]
    rows = []
    for spot_shock in (-0.10, -0.05, 0.0, 0.05, 0.10):
        for vol_shock in (-0.05, 0.0, 0.05, 0.10):
            pick = SENSITIVITY_CHANGES[risk_profile].get((spot_shock, vol_shock), base_id)
            rows.append({"as_of": CHAIN_DAY, "risk_profile": risk_profile, "spot_shock": spot_shock,
                         "vol_shock": vol_shock, "pick_template_id": pick,
                         "pick_score": round(base_score - spot_shock - vol_shock, 4),
                         "base_template_id": base_id, "pick_changed": pick != base_id})
    return rows


def _cost_index_rows(closes: pl.DataFrame) -> pl.DataFrame:
    """Every embedded GLD day: a 91-day 90% put, model-priced with a slowly varying vol, except the
    last 15 days, priced from a (stored) real chain."""
    rows = []
    for i, (day, close) in enumerate(closes.select("date", "close").iter_rows()):
        vol = 0.19 + 0.05 * math.sin(i / 180)
        premium = QuotedLeg("P", "long", 0.90 * close, 0.0, 0.0, vol).value(close, 91 / 365, vol)
        real = i >= closes.height - 15
        rows.append({"date": day, "source": "snapshot:yfinance" if real else "synthetic", "spot": close,
                     "strike": 0.90 * close, "expiry": EXPIRY if real else None, "tenor_days": 91,
                     "moneyness": 0.90, "premium": premium, "cost_pct_collateral": premium / close,
                     "cost_annualised_pct": premium / close * 365 / 91, "methodology_version": METHODOLOGY})
    return _frame(rows)


def strategy_warehouse(frames: dict[str, pl.DataFrame]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the real strategy schema and views, holding `frames`
    (table name -> rows); a frame must hold every declared column the writer fills (those with a
    default, the run stamps, are filled by the database) and nothing else."""
    conn = duckdb.connect(":memory:")
    conn.execute(f"SET VARIABLE vault_run_id = 'test-run'; SET VARIABLE vault_methodology_version = '{METHODOLOGY}'")
    conn.execute(STRATEGY_SCHEMA_SQL.read_text())
    conn.execute(STRATEGY_VIEWS_SQL.read_text())
    for table, frame in frames.items():
        columns = conn.execute(
            "SELECT column_name, column_default IS NOT NULL FROM information_schema.columns "
            "WHERE table_schema = 'analytics' AND table_name = ?", [table]).fetchall()
        required = {name for name, has_default in columns if not has_default}
        declared = {name for name, _ in columns}
        assert required <= set(frame.columns) <= declared, f"{table}: {sorted(frame.columns)} vs {sorted(declared)}"
        conn.register("fixture_rows", frame.to_arrow())
        conn.execute(f"INSERT INTO analytics.{table} BY NAME SELECT * FROM fixture_rows")
        conn.unregister("fixture_rows")
    return conn


def strategy_frames(
    closes: pl.DataFrame, templates: tuple[FixtureTemplate, ...] = FIXTURE_TEMPLATES
) -> dict[str, pl.DataFrame]:
    """Rows for every table the strategies page reads, in the schema's columns."""
    comparison = [_comparison_row(template) for template in templates]
    hedged_calls = {row["template_id"]: row["hedged_margin_call_price"] for row in comparison}
    signal_days = closes["date"].tail(3).to_list()
    return {
        "strategy_comparison": _frame(comparison),
        "order_preview": _frame([row for t in templates for row in _order_preview_rows(t)]),
        "strategy_scenarios": _frame(
            [row for t in templates for row in _scenario_rows(t, hedged_calls[t.template_id])]),
        "strategy_payoff": _frame([row for t in templates for row in _payoff_rows(t)]),
        "strategy_recommendation": _frame([row for p in RECOMMENDATIONS for row in _recommendation_rows(p)]),
        "strategy_sensitivity": _frame([row for p in SENSITIVITY_CHANGES for row in _sensitivity_rows(p)]),
        "protection_cost_index": _cost_index_rows(closes),
        "protection_signal": _frame([
            {"date": day, "iv_source": "model", "atm_iv_30d": iv, "hv20": 0.172, "nvrp": iv / 0.172 - 1,
             "signal": "RICH" if iv / 0.172 - 1 > 0.20 else "FAIR", "discount_below": -0.10, "rich_above": 0.20,
             "methodology_version": METHODOLOGY}
            for day, iv in zip(signal_days, (0.195, 0.205, 0.215), strict=True)
        ]),
        "tail_risk_daily": _frame([
            {"date": day, "gld_close": close, "equity": 152_270.0, "worst_spot_shock": -0.30,
             "worst_vol_shock": 0.20, "worst_pnl": pnl, "tail_risk_pct": -pnl / 152_270.0,
             "status": "Extreme", "scenarios": 8, "methodology_version": METHODOLOGY}
            for day, close, pnl in zip(signal_days, (378.1, 379.55, 382.27), (-90_500.0, -91_200.0, -92_000.0),
                                       strict=True)
        ]),
    }


@pytest.fixture(scope="session")
def all_gld_closes() -> pl.DataFrame:
    """Every embedded GLD daily bar (the protection-cost index spans them all)."""
    return pl.read_csv(GLD_CSV, try_parse_dates=True).sort("date")


@pytest.fixture(scope="session")
def strategy_tables(all_gld_closes: pl.DataFrame) -> StrategyTables:
    """The fixture rows as `read_strategy_tables` reads them back from the real schema."""
    conn = strategy_warehouse(strategy_frames(all_gld_closes))
    try:
        return read_strategy_tables(conn)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def empty_strategy_tables() -> StrategyTables:
    """The strategy tables before the engine has ever run."""
    conn = strategy_warehouse({})
    try:
        return read_strategy_tables(conn)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def strategies_context(strategy_tables: StrategyTables) -> StrategiesContext:
    return build_strategies_context(strategy_tables, "Gold Lombard 2025", PORTFOLIO_PROFILE, GENERATED_AT)


@pytest.fixture(scope="session")
def empty_strategies_context(empty_strategy_tables: StrategyTables) -> StrategiesContext:
    return build_strategies_context(empty_strategy_tables, "Gold Lombard 2025", PORTFOLIO_PROFILE, GENERATED_AT)
