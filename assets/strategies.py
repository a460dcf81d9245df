"""Strategy-engine assets: templates, the daily comparison and its tables, the protection signals.

Three steps, each one process and one warehouse transaction:
- `strategy_templates` writes the template definitions (system + portfolio.toml).
- `strategy_engine` computes, for every chain snapshot day whose inputs changed (new quotes, an
  edited portfolio, a new methodology: `inputs_digest`), the comparison, order preview, scenarios,
  payoff, recommendation and sensitivity, and replaces that day's rows of all six in one transaction.
- `protection_signals` rebuilds the protection signal, tail risk and the 22-year cost index.
"""

from collections.abc import Iterator

import dagster as dg
from assets.resources import WAREHOUSE_TAG, PortfolioResource, WarehouseResource
from pipeline import warehouse as wh
from pipeline.portfolio.positions import market_surface
from pipeline.strategies import cost_index, signals
from pipeline.strategies.engine import day_market, inputs_digest, strategy_day
from pipeline.strategies.templates import template_legs_frame, templates_for, templates_frame

GROUP = "strategies"


def _key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["analytics", name])


def _spec(name: str, description: str, deps: list[dg.AssetKey]) -> dg.AssetSpec:
    return dg.AssetSpec(_key(name), description=description, deps=deps, group_name=GROUP, kinds={"duckdb", "polars"})


MARKET = [dg.AssetKey(["raw", "prices_daily"]), dg.AssetKey(["raw", "gvz_daily"]), dg.AssetKey(["raw", "rates_daily"])]
VALUATIONS = _key("option_valuations")
TEMPLATE_TABLES = ("strategy_templates", "strategy_template_legs")
DAY_TABLES = ("strategy_comparison", "order_preview", "strategy_scenarios", "strategy_payoff",
              "strategy_recommendation", "strategy_sensitivity")
SIGNAL_TABLES = ("protection_signal", "tail_risk_daily", "protection_cost_index")


@dg.multi_asset(
    specs=[_spec("strategy_templates", "Named hedge templates (system + portfolio.toml [[strategies]]).", []),
           _spec("strategy_template_legs", "Each template's legs: right, side, moneyness, tenor, weight.", [])],
    op_tags=WAREHOUSE_TAG)
def strategy_templates(portfolio: PortfolioResource, warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
    """Store the template definitions the comparison and the backtests use."""
    templates = templates_for(portfolio.load())
    frames = {"analytics.strategy_templates": templates_frame(templates),
              "analytics.strategy_template_legs": template_legs_frame(templates)}
    with warehouse.open() as conn:
        rows = wh.replace_tables(conn, frames)
    for name in TEMPLATE_TABLES:
        yield dg.MaterializeResult(asset_key=_key(name), metadata={"rows": rows[f"analytics.{name}"]})


@dg.multi_asset(
    specs=[_spec("strategy_comparison", "Per chain day x template: cost, protection, margin-call prices.",
                 [VALUATIONS, *MARKET, _key("strategy_templates")]),
           *(_spec(name, f"Strategy engine table analytics.{name} (see warehouse/README.md).",
                   [_key("strategy_comparison")]) for name in DAY_TABLES[1:])],
    op_tags=WAREHOUSE_TAG)
def strategy_engine(context: dg.AssetExecutionContext, portfolio: PortfolioResource,
                    warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
    """Compare, stress and rank every template on each chain snapshot day whose inputs changed."""
    book = portfolio.load()
    symbol = book.collateral.symbol
    with warehouse.open() as conn:
        surface = market_surface(wh.read_prices(conn, symbol), wh.read_table(conn, "raw.gvz_daily"),
                                 wh.read_table(conn, "raw.rates_daily"), symbol)
        chains = conn.sql("SELECT * FROM analytics.option_valuations WHERE symbol = ? ORDER BY snapshot_date",
                          params=[symbol]).pl()
        stored = dict(conn.sql("SELECT DISTINCT as_of, inputs_digest FROM analytics.strategy_comparison").fetchall())
        computed: list[str] = []
        for (day,), chain in chains.partition_by("snapshot_date", as_dict=True, maintain_order=True).items():
            if stored.get(day) == inputs_digest(chain, book):
                continue
            tables = strategy_day(chain, day_market(surface, chain, day), book).tables()
            wh.replace_tables(conn, tables, where={"as_of": day})
            computed.append(str(day))
        for gone in set(stored) - set(chains["snapshot_date"].unique().to_list()):
            wh.delete_rows(conn, [f"analytics.{name}" for name in DAY_TABLES], where={"as_of": gone})
        latest = conn.sql("SELECT * FROM analytics.strategy_pick_latest ORDER BY risk_profile").pl()
        counts = {name: conn.execute(f"SELECT count(*) FROM analytics.{name}").fetchall()[0][0] for name in DAY_TABLES}
    context.log.info(f"strategy days computed: {computed or 'none (inputs unchanged)'}")
    picks = ", ".join(f"{p}={t}" for p, t in latest.select("risk_profile", "template_id").rows()) or "(none)"
    for name in DAY_TABLES:
        metadata: dict[str, object] = {"rows": counts[name], "days_computed": ", ".join(computed) or "none"}
        if name == "strategy_recommendation":
            metadata["picks"] = picks
        yield dg.MaterializeResult(asset_key=_key(name), metadata=metadata)


@dg.multi_asset(
    specs=[_spec("protection_signal", "NVRP = atm_iv_30d / hv20 - 1: protection cheap, fair or rich.",
                 [_key("vol_surface_daily")]),
           _spec("tail_risk_daily", "Delta-gamma-vega stress loss of collateral + hedges vs equity.",
                 [_key("ltv_daily")]),
           _spec("protection_cost_index", "Cost of a 3-month 90 % put, every GLD day since 2004.",
                 [_key("synthetic_chain_daily"), VALUATIONS])],
    op_tags=WAREHOUSE_TAG)
def protection_signals(portfolio: PortfolioResource, warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
    """Rebuild the three daily protection tables from the surface, the LTV history and the chains."""
    settings = portfolio.load().strategy
    with warehouse.open() as conn:
        frames = {
            "analytics.protection_signal": signals.protection_signal(
                wh.read_table(conn, "analytics.vol_surface_daily", order_by="date"), settings),
            "analytics.tail_risk_daily": signals.tail_risk_daily(
                wh.read_table(conn, "analytics.ltv_daily", order_by="date"), settings),
            "analytics.protection_cost_index": cost_index.protection_cost_index(
                conn.sql("SELECT * FROM analytics.synthetic_chain_daily WHERE tenor_months = 3 "
                         "AND option_right = 'P'").pl(),
                wh.read_table(conn, "analytics.option_valuations")),
        }
        wh.replace_tables(conn, frames)
    for table, frame in frames.items():
        latest = frame.row(-1, named=True) if frame.height else {}
        shown = {k: latest[k] for k in ("signal", "status", "cost_annualised_pct", "source") if k in latest}
        yield dg.MaterializeResult(asset_key=dg.AssetKey(table.split(".")), metadata={
            "rows": frame.height, "last_date": str(latest.get("date")), **{k: str(v) for k, v in shown.items()}})
