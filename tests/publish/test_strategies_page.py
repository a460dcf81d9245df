"""The strategies page and the report's strategies section, from schema-exact strategy tables.

The fixture (conftest.py) prices three templates on the 2026-10-06 chain, GLD 382.27, 1,000 shares,
a 250,000 USD loan and a 75% margin call (margin-call price 333.33, so gold can fall 12.8%):

    protective put 95 %: buy 10 x 363 put at the 11.40 ask                         = 11,400 at fill
    collar 95 / 110 %:   + sell 10 x 420 call at the 6.10 bid: 11,400 - 6,100        =  5,300 at fill
    put spread 95 / 80%: + sell 10 x 306 put at the 2.35 bid: 11,400 - 2,350         =  9,050 at fill

The spread protects 57 USD a share below 306, so its margin call moves to
(250,000 / 0.75 - 57,000) / 1,000 = 276.33 and gold can fall 1 - 276.33 / 382.27 = 27.7%.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pypdf
import pytest
from polars.testing import assert_frame_equal

from pipeline.publish.data import DashboardData
from pipeline.publish.pdf import render_report_pdf
from pipeline.publish.site import STRATEGIES_PAGE, publish_site, render_page
from pipeline.publish.strategies import (
    StrategiesContext,
    StrategyTables,
    build_strategies_context,
    order_preview_download_path,
    read_strategy_tables,
)

from .conftest import CHAIN_DAY, GENERATED_AT, PORTFOLIO_PROFILE, strategy_frames, strategy_warehouse

@pytest.fixture(scope="module")
def strategies_html(published_site: Path) -> str:
    return (published_site / "strategies.html").read_text(encoding="utf-8")


def test_comparison_shows_each_templates_figures_formatted(strategies_html: str) -> None:
    comparison = strategies_html.split('id="comparison"', 1)[1].split("</section>", 1)[0]

    for figure in (
        "$11,400", "$5,300", "$9,050",  # cost at fill (docstring)
        "$11,200", "$4,900", "$8,750",  # cost at mid: long legs at the mid, short legs at the mid
        "2.98%", "1.39%", "2.37%",  # cost / 382,270 collateral
        "10.78%", "5.01%", "8.56%",  # x 365 / 101 days
        "$276.33", "$333.33", "27.7%", "12.8%",  # spread's and unhedged margin call
        "$131", "$61", "$607",  # cost per protection point: 11,400 / 87.2, 5,300 / 87.2, 9,050 / 14.9
        "$363,000", "$57,000",  # floors: 1,000 x 363; 1,000 x (363 - 306)
        "$393.67", "$387.57", "$391.32",  # breakeven = spot + cost per share
        "$420.00",  # the collar's upside cap
        "short leg: 306 strike listed nearest the 305.82 target",
    ):
        assert figure in comparison, figure
    assert comparison.count('class="badge model">model</span>') == 3  # every template's chain source
    assert "not fresh market quotes" in strategies_html  # a model chain is never shown as market data
    assert "any fall" in comparison and "the hedge covers the call" in comparison


def test_gold_can_fall_comes_first_then_margin_call_price(strategies_html: str) -> None:
    comparison = strategies_html.split('id="comparison"', 1)[1]
    row_labels = re.findall(r'<th scope="row">([^<]+)</th>', comparison.split("</table>", 1)[0])

    assert row_labels[:2] == ["Gold can fall before the margin call", "Margin-call price (GLD)"]


def test_columns_follow_the_portfolio_profiles_ranking(strategies_context: StrategiesContext) -> None:
    assert [c.template_id for c in strategies_context.comparison] == [
        "protective_put_95", "collar_95_110", "put_spread_95_80"
    ]
    assert [c.is_pick for c in strategies_context.comparison] == [True, False, False]


def test_portfolio_profile_is_highlighted(strategies_html: str) -> None:
    profile_sections = re.findall(r'<section class="profile( own-profile)?" data-profile="(\w+)"', strategies_html)

    assert {profile for highlight, profile in profile_sections if highlight} == {PORTFOLIO_PROFILE}
    assert {profile for _, profile in profile_sections} == {"conservative", "balanced", "aggressive"}
    recommendation = strategies_html.split('id="recommendation"', 1)[1].split('id="sensitivity"', 1)[0]
    assert recommendation.index("Conservative") < recommendation.index("Balanced") < recommendation.index("Aggressive")
    assert "Covers the margin call with no upside cap; best protection per dollar." in recommendation
    assert "not eligible" in recommendation


def test_sensitivity_marks_the_cells_where_the_pick_changes(strategies_context: StrategiesContext,
                                                           strategies_html: str) -> None:
    balanced = next(grid for grid in strategies_context.sensitivity if grid.risk_profile == PORTFOLIO_PROFILE)

    assert balanced.spot_shocks == (-0.10, -0.05, 0.0, 0.05, 0.10)
    assert balanced.vol_shocks == (-0.05, 0.0, 0.05, 0.10)
    changed = [(spot, vol) for i, spot in enumerate(balanced.spot_shocks)
               for j, vol in enumerate(balanced.vol_shocks) if balanced.cells[i][j].changed]
    assert changed == [(-0.10, 0.10), (-0.05, 0.10)]
    assert balanced.summary == (
        "The pick, Protective put 95 % (3 m), holds in 18 of 20 shocked markets. It becomes "
        "Collar 95 / 110 % (3 m) at spot -10% with +10 vol pts; spot -5% with +10 vol pts."
    )
    assert strategies_html.count('<td class="changed">') == 3  # two balanced, one aggressive
    assert "holds in all 20 shocked markets" in strategies_html  # conservative


def test_sensitivity_summary_names_whole_rows_once(strategy_tables: StrategyTables) -> None:
    """A pick that changes at every vol shock of a GLD move is named once for that move."""
    sensitivity = strategy_tables.sensitivity.with_columns(
        pl.when((pl.col("risk_profile") == "conservative") & (pl.col("spot_shock") == -0.10))
        .then(pl.lit("put_spread_95_80")).otherwise(pl.col("pick_template_id")).alias("pick_template_id")
    ).with_columns((pl.col("pick_template_id") != pl.col("base_template_id")).alias("pick_changed"))
    context = build_strategies_context(replace(strategy_tables, sensitivity=sensitivity), "x", PORTFOLIO_PROFILE,
                                       GENERATED_AT)

    assert context.sensitivity[0].summary == (
        "The pick, Collar 95 / 110 % (3 m), holds in 16 of 20 shocked markets. It becomes "
        "Put spread 95 / 80 % (3 m) at spot -10% (any vol)."
    )


def test_a_template_without_a_listed_contract_renders_with_its_note(strategy_tables: StrategyTables,
                                                                   dashboard_data: DashboardData,
                                                                   templates_dir: Path) -> None:
    unpriced = ["premium_per_share", "cost_at_fill", "cost_at_mid", "cost_pct_collateral", "cost_annualised_pct",
                "hedged_margin_call_price", "fall_to_margin_call_hedged_pct", "protection_points",
                "cost_per_protection_point", "floor_value", "max_loss", "breakeven_price", "expiry", "dte"]
    is_collar = pl.col("template_id") == "collar_95_110"
    comparison = strategy_tables.comparison.with_columns(
        pl.when(is_collar).then(pl.lit("no_contract")).otherwise(pl.col("status")).alias("status"),
        pl.when(is_collar).then(pl.lit("no 420 call listed within the tenor window"))
        .otherwise(pl.col("leg_notes")).alias("leg_notes"),
        *[pl.when(is_collar).then(None).otherwise(pl.col(name)).alias(name) for name in unpriced],
    )
    tables = replace(strategy_tables, comparison=comparison)
    context = build_strategies_context(tables, "x", PORTFOLIO_PROFILE, GENERATED_AT)
    collar = next(column for column in context.comparison if column.template_id == "collar_95_110")
    html = render_page(STRATEGIES_PAGE, replace(dashboard_data, strategies=tables), templates_dir)

    assert not collar.is_priced and not collar.hedge_covers_call
    assert '<span class="badge stale">no contract</span>' in html
    assert "no 420 call listed within the tenor window" in html


def test_signal_and_tail_risk_show_the_latest_day(strategies_html: str) -> None:
    assert "protection rich" in strategies_html
    assert "NVRP +25%" in strategies_html  # 0.215 / 0.172 - 1
    assert "Extreme" in strategies_html
    assert "GLD -30% with +20 vol pts loses $92,000 (60.4% of equity $152,270)" in strategies_html


def test_order_preview_lists_every_leg_with_its_csv(strategies_html: str) -> None:
    orders = strategies_html.split('id="orders"', 1)[1]

    assert "GLD270115C00420000" in orders and ">SELL<" in orders
    for figure in ("$6.30", "$6.10", "$6.50", "-$6,300", "-$6,100", "$5,300"):
        assert figure in orders, figure
    for template_id in ("protective_put_95", "collar_95_110", "put_spread_95_80"):
        assert f'href="downloads/order_preview_{template_id}.csv"' in orders
    assert "Download the Collar 95 / 110 % (3 m) order preview (CSV)" in orders


def test_each_csv_holds_its_templates_order_preview_rows(published_site: Path, strategy_tables: StrategyTables) -> None:
    preview = strategy_tables.order_preview
    template_ids = sorted(set(preview["template_id"]))

    assert sorted(path.name for path in (published_site / "downloads").glob("order_preview_*")) == [
        f"order_preview_{template_id}.csv" for template_id in template_ids
    ]
    for template_id in template_ids:
        expected = preview.filter(pl.col("template_id") == template_id).sort("leg_index")
        written = pl.read_csv(published_site / order_preview_download_path(template_id), schema=expected.schema)
        assert_frame_equal(written, expected)
    assert preview.filter(pl.col("template_id") == "collar_95_110")["action"].to_list() == ["BUY", "SELL"]


def test_every_chart_has_a_spec_a_fallback_and_a_summary(strategies_html: str) -> None:
    specs = re.findall(r'<script type="application/json" class="chart-spec" data-chart="([\w-]+)"', strategies_html)

    assert specs == ["hedged-ltv-chart", "payoff-chart-1", "payoff-chart-2", "payoff-chart-3", "cost-index-chart"]
    for chart_id in specs:
        chart = strategies_html.split(f'<div id="{chart_id}"', 1)[1].split("</figure>", 1)[0]
        assert "<noscript><svg" in re.sub(r">\s+<", "><", chart)
        assert 'class="chart-summary"' in chart
    assert "Put spread 95 / 80 % (3 m) -20%" in strategies_html  # heat map: -30% takes the spread to 78% LTV


def test_heat_map_marks_the_margin_call_ltv(strategies_html: str) -> None:
    block = strategies_html.split('id="hedged-ltv-chart-spec">', 1)[1].split("</script>", 1)[0]
    spec = json.loads(block)

    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"][1] == 0.75
    assert spec["layer"][1]["mark"] == {"type": "rect", "filled": False, "stroke": "#c0392b", "strokeWidth": 2}


def test_cost_index_history_is_charted_weekly(strategies_context: StrategiesContext,
                                              strategy_tables: StrategyTables) -> None:
    daily = strategy_tables.protection_cost_index
    weekly = strategies_context.cost_index

    assert daily.height > 5_000 and weekly.height < daily.height / 4
    assert weekly["date"].max() == daily["date"].max()
    assert set(weekly.filter("real_chain")["source"]) == {"snapshot:yfinance"}
    assert set(weekly.filter(~pl.col("real_chain"))["source"]) == {"synthetic"}
    assert strategies_context.cost_index_has_real_chain_days








def test_report_gains_a_strategies_section(dashboard_data: DashboardData, templates_dir: Path,
                                           tmp_path: Path) -> None:
    pdf = render_report_pdf(dashboard_data, tmp_path / "report.pdf", templates_dir)
    pages = pypdf.PdfReader(pdf).pages
    first = pages[0].extract_text()
    rest = " ".join(" ".join(page.extract_text() for page in pages[1:]).split())

    assert len(pages) >= 2
    assert "65.4%" in first and "Hedging strategies" not in first  # the overview keeps its own page
    assert "Hedging strategies, bought on the 2026-10-06 chain" in rest
    for figure in ("$11,400", "$5,300", "$9,050", "$276.33", "10.78%", "Gold can fall before the margin call",
                   "Covers the margin call with no upside cap; best protection per dollar.", "YOUR PROFILE",
                   "Protection-cost index", "Annualised cost of the 91-day 90% put"):
        assert figure in rest, figure
    assert all(list(page.images) == [] for page in pages)  # charts drawn as vectors, never rasterised


def test_empty_tables_render_a_page_that_says_the_engine_has_not_run(
    dashboard_data: DashboardData, empty_strategy_tables: StrategyTables, empty_strategies_context: StrategiesContext,
    templates_dir: Path, bundle_cache_dir: Path, tmp_path: Path,
) -> None:
    out_dir = tmp_path / "public"
    publish_site(dashboard_data, out_dir, templates_dir, bundle_cache_dir=bundle_cache_dir)
    publish_site(replace(dashboard_data, strategies=empty_strategy_tables), out_dir, templates_dir,
                 bundle_cache_dir=bundle_cache_dir)
    html = (out_dir / "strategies.html").read_text(encoding="utf-8")

    assert not empty_strategies_context.has_comparison
    assert "The strategy engine has not run yet" in html
    assert "Data as of: no strategy run yet" in html
    assert 'class="chart-spec"' not in html
    assert list((out_dir / "downloads").glob("order_preview_*")) == []  # the earlier run's CSVs went with their links


def test_empty_tables_leave_the_report_a_note_on_its_own_page(
    dashboard_data: DashboardData, empty_strategy_tables: StrategyTables, templates_dir: Path, tmp_path: Path,
) -> None:
    pdf = render_report_pdf(replace(dashboard_data, strategies=empty_strategy_tables), tmp_path / "report.pdf",
                            templates_dir)
    texts = [page.extract_text() for page in pypdf.PdfReader(pdf).pages]

    assert "The strategy engine has not run yet" in texts[-1] and "Hedging strategies" in texts[-1]
    assert not any("Hedging strategies" in text for text in texts[:-1])


def test_reader_takes_the_latest_comparison_day_and_the_latest_signal(all_gld_closes: pl.DataFrame) -> None:
    frames = strategy_frames(all_gld_closes)
    day_before = CHAIN_DAY - timedelta(days=1)
    per_day = {"strategy_comparison": "comparison", "order_preview": "order_preview",
               "strategy_scenarios": "scenarios", "strategy_payoff": "payoff",
               "strategy_recommendation": "recommendation", "strategy_sensitivity": "sensitivity"}
    with_history = {
        table: pl.concat([frame, frame.with_columns(pl.lit(day_before).alias("as_of"))]) if table in per_day else frame
        for table, frame in frames.items()
    }
    conn = strategy_warehouse(with_history)
    try:
        tables = read_strategy_tables(conn)
    finally:
        conn.close()

    for table, field in per_day.items():
        frame = getattr(tables, field)
        assert set(frame["as_of"]) == {CHAIN_DAY}, table
        assert frame.height == frames[table].height, table
    assert tables.protection_cost_index.height == frames["protection_cost_index"].height
    assert tables.protection_signal["date"].to_list() == [date(2026, 10, 6)]
    assert tables.tail_risk["date"].to_list() == [date(2026, 10, 6)]


@pytest.mark.parametrize("template_id", ["../index", "a/b", "", "x" * 81, "collar 95"])
def test_download_names_refuse_unsafe_template_ids(template_id: str) -> None:
    with pytest.raises(ValueError, match="cannot name a download file"):
        order_preview_download_path(template_id)
