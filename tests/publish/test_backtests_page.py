"""The Backtests page from schema-exact backtest rows (backtest_rows.py) in a real warehouse file.

The figures checked are the fixture's hand-worked ones (backtest_rows.py's docstring): in the 2008
crisis the unhedged loan (59,502 against 1,000 shares from 99.17) hits the 75 % call on 2008-08-15
and peaks at 59,502 / 70,000 = 85.0 % on 2008-11-12; the collar ranks first (63.2 % for $360).
"""

from __future__ import annotations

import json
import re
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipeline import warehouse as wh
from pipeline.config import Portfolio
from pipeline.publish.backtests import BacktestTables, build_backtests_context, empty_backtest_tables
from pipeline.publish.data import DashboardData, read_dashboard_data
from pipeline.publish.site import BACKTESTS_PAGE, publish_site, render_page

from .backtest_rows import (  # noqa: F401  (fixtures)
    backtest_data,
    backtest_frames,
    backtest_tables,
    large_backtest_frames,
    load_backtest_tables,
)
from .conftest import GENERATED_AT
from .test_browser import DESKTOP, PHONE, offline_tab, screenshot, serve
from .test_site import ESCAPED_PROBE, PAGE_BUDGET_BYTES, XSS_PROBE, parse

COLLAR, PUT_95, SPREAD = "Collar 95 / 110 % (3 m)", "Protective put 95 % (3 m)", "Put spread 95 / 80 % (3 m)"


@pytest.fixture(scope="module")
def backtests_site(backtest_data: DashboardData, templates_dir: Path, bundle_cache_dir: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("backtests-site") / "public"
    publish_site(backtest_data, out_dir, templates_dir, bundle_cache_dir=bundle_cache_dir)
    return out_dir


@pytest.fixture(scope="module")
def backtests_html(backtests_site: Path) -> str:
    return (backtests_site / "backtests.html").read_text(encoding="utf-8")


def section(html: str, element_id: str) -> str:
    return html.split(f'id="{element_id}"', 1)[1].split("</section>", 1)[0]


def text(markup: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", markup).split())


def ranking_rows(html: str, event_id: str) -> list[tuple[str, str]]:
    """(policy_id, the row's text) of an event's ranking, in page order (the unhedged footer last)."""
    event = section(html, f"event-{event_id}")
    rows = re.findall(r'<tr class="run[^"]*" data-policy="([^"]+)">(.*?)</tr>', event, re.S)
    return [(policy, text(row)) for policy, row in rows]


def chart_spec(html: str, chart_id: str) -> dict[str, Any]:
    return json.loads(html.split(f'id="{chart_id}-spec">', 1)[1].split("</script>", 1)[0])


def inline_rows(spec: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The spec's datasets, largest first."""
    return sorted(spec["datasets"].values(), key=len, reverse=True)


def path_labels(spec: dict[str, Any]) -> dict[str, str]:
    """Column key -> policy label, from the lookup that names the folded columns."""
    lookup = spec["layer"][0]["transform"][1]["from"]["data"]
    return {entry["key"]: entry["series"] for entry in lookup.get("values") or spec["datasets"][lookup["name"]]}


def layer_rows(spec: dict[str, Any], layer: dict[str, Any]) -> list[dict[str, Any]]:
    return spec["datasets"][layer["data"]["name"]]


def test_reader_reads_all_six_tables_events_by_start_date_the_full_history_last(
        backtest_tables: BacktestTables) -> None:
    assert backtest_tables.events["event_id"].to_list() == ["gfc_2008", "covid_2020", "full"]
    assert backtest_tables.runs.height == 15
    assert backtest_tables.paths.height == 5 * (189 + 29 + 5504)
    assert backtest_tables.sweep.height == 12 and backtest_tables.optimum.height == 6
    assert backtest_tables.probabilities.height == 9
    assert set(backtest_tables.runs["run_id"]) == {wh.MANUAL_RUN_ID}  # stamped by the warehouse, as in a run


def test_dashboard_data_reads_the_backtests_and_defaults_to_empty_tables(
        portfolio: Portfolio, all_gld_closes: pl.DataFrame, dashboard_data: DashboardData, tmp_path: Path) -> None:
    path = tmp_path / "vault.duckdb"
    load_backtest_tables(path, backtest_frames(all_gld_closes))
    with wh.open_warehouse(path, read_only=True) as conn:
        data = read_dashboard_data(conn, portfolio, GENERATED_AT)

    assert data.backtests.events["label"].to_list() == [
        "Global financial crisis 2008", "COVID-19 crash 2020", "Whole history since 2004"]
    assert data.backtests.runs.filter(pl.col("event_id") == "gfc_2008")["rank"].sort().to_list() == [1, 2, 3, 4, 5]
    without = DashboardData(**{field.name: getattr(dashboard_data, field.name) for field in fields(DashboardData)
                               if field.name != "backtests"})
    empty = without.backtests  # the schema's columns, no rows
    assert not empty.has_results and empty.paths.height == 0
    assert {"event_id", "hedged_ltv", "breach"} <= set(empty.paths.columns)


def test_event_list_names_each_events_best_policy(backtests_html: str) -> None:
    rows = re.findall(r'<tr data-event="([^"]+)">(.*?)</tr>', section(backtests_html, "events"), re.S)

    assert [(event, text(row)) for event, row in rows] == [
        ("gfc_2008", f"Global financial crisis 2008 gfc_2008 -29.4% 189 {COLLAR} margin call"),
        ("covid_2020", f"COVID-19 crash 2020 covid_2020 -12.5% 29 {COLLAR} margin call"),
        ("full", f"Whole history since 2004 full -7% 5,504 {COLLAR} survived"),
    ]
    assert '<a href="#event-covid_2020">COVID-19 crash 2020</a>' in backtests_html  # works without script


def test_each_event_shows_its_dates_and_drawdown(backtests_html: str) -> None:
    assert ("2008-03-17 to 2008-11-12: GLD $99.17 to a low of $70.00 on 2008-11-12, a drawdown of -29.4%; the path "
            "runs 20 trading days past the end, to 2008-12-11 (189 closes") in text(section(backtests_html,
                                                                                      "event-gfc_2008"))
    assert ("2004-11-18 to 2026-10-06: GLD $44.38 to a low of $41.26 on 2005-02-08, a drawdown of -7%; the path "
            "ends there (5,504 closes") in text(section(backtests_html, "event-full"))


def test_ranking_lists_the_runs_best_first_and_the_unhedged_loan_last(backtests_html: str) -> None:
    assert ranking_rows(backtests_html, "gfc_2008") == [
        ("collar_95_110", f"1 {COLLAR} yes 63.2% 2008-03-19 none $360 0.49% $13,560 $34,348"),
        ("protective_put_95", f"2 {PUT_95} yes 63.2% 2008-03-19 none $4,580 6.27% $13,560 $30,128"),
        ("protective_put_90", "3 protective_put_90 yes 66.7% 2008-04-01 none $2,850 3.90% $8,600 $26,898"),
        ("put_spread_95_80", f"4 {SPREAD} yes 70.1% 2008-11-12 none $3,770 5.16% $13,560 $30,938"),
        ("unhedged", "5 Unhedged no 85.0% 2008-11-12 2008-08-15 $0 0.00% $0 $21,148"),
    ]
    assert "<tfoot>" in section(backtests_html, "event-gfc_2008").split('data-policy="unhedged"', 1)[0]


def test_the_unhedged_line_keeps_its_rank_when_a_hedge_did_worse(backtests_html: str) -> None:
    ranks = [(policy, row.split()[0]) for policy, row in ranking_rows(backtests_html, "full")]

    assert ranks == [("collar_95_110", "1"), ("put_spread_95_80", "2"), ("protective_put_95", "3"),
                     ("protective_put_90", "5"), ("unhedged", "4")]


def test_first_margin_call_dates_are_highlighted(backtests_html: str) -> None:
    covid = section(backtests_html, "event-covid_2020")
    marked = re.findall(r'data-policy="([^"]+)">(?:(?!</tr>).)*<mark class="breach">([\d-]+)</mark>', covid, re.S)

    assert marked == [("protective_put_90", "2020-03-16"), ("unhedged", "2020-03-16")]
    assert section(backtests_html, "event-gfc_2008").count('<mark class="breach">') == 1  # only the unhedged loan
    assert section(backtests_html, "event-full").count('<mark class="breach">') == 0


def test_paths_chart_draws_every_policy_and_the_unhedged_loan_against_the_margin_call(backtests_html: str) -> None:
    spec = chart_spec(backtests_html, "paths-chart-1")  # gfc_2008
    paths, *small = inline_rows(spec)
    lines = spec["layer"][0]
    labels = path_labels(spec)
    unhedged_key = next(key for key, label in labels.items() if label == "Unhedged")

    assert list(labels.values()) == [COLLAR, PUT_95, "protective_put_90", SPREAD, "Unhedged"]  # ranking order
    assert lines["encoding"]["color"]["scale"]["domain"] == list(labels.values())
    assert len(paths) == 189  # one row per day, a column per policy
    assert max(row[unhedged_key] for row in paths) == 0.85  # 59,502 / 70,000
    assert min(row[unhedged_key] for row in paths) == 0.6  # the start: 59,502 / 99,170
    assert [0.75] in [[row.get("ltv") for row in rows] for rows in small]  # the margin-call rule
    assert "hit the 75.0% margin call on 2008-08-15" in section(backtests_html, "event-gfc_2008")


def test_long_paths_are_charted_as_monthly_highs_that_keep_the_peak(backtests_html: str) -> None:
    spec = chart_spec(backtests_html, "paths-chart-3")  # the full history, 5,504 days
    paths = inline_rows(spec)[0]
    unhedged_key = next(key for key, label in path_labels(spec).items() if label == "Unhedged")

    assert len(paths) == 264  # 2004-11 .. 2026-10
    assert max(row[unhedged_key] for row in paths) == 0.645  # the peak survives: 26,628 / 41,260 on 2005-02-08
    assert "LTV with each hedge and unhedged (monthly highs)" in section(backtests_html, "event-full")
    assert "highs)" not in section(backtests_html, "event-gfc_2008")  # 189 days: daily


def test_paths_of_a_few_years_are_charted_as_weekly_highs(dashboard_data: DashboardData, tmp_path: Path) -> None:
    tables = load_backtest_tables(tmp_path / "vault.duckdb", large_backtest_frames(events=1, event_days=600))
    context = build_backtests_context(replace(dashboard_data, backtests=tables))
    event, full = context.events
    daily = tables.paths.filter((pl.col("event_id") == event.event.event_id) & (pl.col("policy_id") == "unhedged"))
    weekly_unhedged = event.ltv_paths.filter("unhedged")

    assert (event.resolution, full.resolution) == ("weekly", "monthly")
    assert 600 / 5 <= weekly_unhedged.height <= 600 / 5 + 2
    assert weekly_unhedged["ltv"].max() == daily["unhedged_ltv"].max()
    assert event.gld_path.sort("gld_close").row(0) == daily.sort("gld_close").select("date", "gld_close").row(0)


def test_pareto_chart_marks_the_frontier_the_optimum_and_the_cap(backtests_html: str) -> None:
    spec = chart_spec(backtests_html, "pareto-chart")
    line, dots, *_ = spec["layer"]
    drawn = {layer["encoding"]["color"]["datum"] if "datum" in layer["encoding"]["color"] else
             layer_rows(spec, layer)[0]["kind"]: layer_rows(spec, layer) for layer in dots["layer"]}
    rules = [row["ltv"] for rows in spec["datasets"].values() for row in rows if "label" in row]

    assert [(row["policy_id"], row["cost_annualised_pct"], row["worst_max_ltv"]) for row in drawn["Optimum"]] == [
        ("put_m0.950_t91_r21_h0.75_l2_s0", 0.0187, 0.694)]
    assert len(drawn["Frontier"]) == 4 and len(drawn["Swept policy"]) == 7
    assert [row["cost_annualised_pct"] for row in layer_rows(spec, line)] == [0.0061, 0.0118, 0.0187, 0.0342, 0.0495]
    assert sorted(rules) == [0.70, 0.75]


def test_frontier_table_and_the_optimizers_pick(backtests_html: str) -> None:
    sweep = section(backtests_html, "sweep")
    frontier = re.findall(r'<th scope="row" class="policy-id">([\w.]+)', sweep)
    card = text(sweep.split('class="optimum-card">', 1)[1].split("</div>", 1)[0])

    assert frontier == ["put_m0.900_t182_r30_h0.50_l1_s1", "put_m0.900_t91_r21_h0.75_l1_s0",
                        "put_m0.950_t91_r21_h0.75_l2_s0", "put_m1.000_t91_r21_h1.00_l1_s0",
                        "put_m1.000_t365_r60_h1.00_l3_s0"]
    assert re.search(r'<tr class="optimum">\s*<th scope="row" class="policy-id">put_m0.950_t91_r21_h0.75_l2_s0', sweep)
    assert card == ("The optimizer's pick: put_m0.950_t91_r21_h0.75_l2_s0 Family ladder Top strike 95.0% of spot "
                    "Tenor 91 days Roll at 21 days left Hedge ratio 75% Ladder rungs 2 ALMA signal off "
                    "Worst LTV 69.4% Cost per year 1.87% Every event survived yes")
    assert "12 policies swept over every event; 5 are on the frontier." in sweep
    assert "below the 70.0% cap" in sweep


def test_monte_carlo_table_shows_each_probability_with_its_interval(backtests_html: str) -> None:
    table = section(backtests_html, "monte-carlo")
    rows = [(policy, text(row)) for policy, row in re.findall(r'<tr data-policy="([^"]+)">(.*?)</tr>', table, re.S)]

    assert rows == [
        ("unhedged", "Unhedged 4.12% 4.00% – 4.24% 13.18% 12.97% – 13.39% 28.74% 28.46% – 29.02%"),
        ("collar_95_110", f"{COLLAR} 0.11% 0.09% – 0.13% 1.29% 1.22% – 1.36% 7.02% 6.86% – 7.18%"),
        ("protective_put_95", f"{PUT_95} 0.07% 0.06% – 0.09% 0.96% 0.90% – 1.02% 5.83% 5.69% – 5.98%"),
    ]
    assert [text(h) for h in re.findall(r'<th scope="col">(.*?)</th>', table)] == ["Policy", "30 days", "90 days",
                                                                                   "365 days"]
    assert ("Simulation: 100,000 paths, seed 20260129, method stationary_block_bootstrap(mean_block=20), "
            "from 2026-10-06 at LTV 65.4%.") in table


def test_downloads_hold_the_runs_and_the_whole_sweep(backtests_site: Path, backtests_html: str,
                                                     backtest_tables: BacktestTables) -> None:
    runs = pl.read_csv(backtests_site / "downloads" / "backtest_runs.csv", try_parse_dates=True)
    sweep = pl.read_csv(backtests_site / "downloads" / "backtest_sweep.csv")

    assert runs.height == 15 and sweep.height == 12
    assert runs.filter(pl.col("policy_id") == "unhedged")["unhedged_first_breach_date"].drop_nulls().len() == 2
    assert sorted(sweep["policy_id"]) == sorted(backtest_tables.sweep["policy_id"])
    assert 'href="downloads/backtest_sweep.csv" download' in backtests_html


def test_empty_tables_say_the_engine_has_not_run(dashboard_data: DashboardData, templates_dir: Path) -> None:
    before_the_engine = replace(dashboard_data, backtests=empty_backtest_tables())
    html = render_page(BACKTESTS_PAGE, before_the_engine, templates_dir)
    context = build_backtests_context(before_the_engine)

    assert "The backtest engine has not run yet" in html
    assert 'class="chart-spec"' not in html and "downloads/" not in html
    assert BACKTESTS_PAGE.files(context) == {} and context.events == ()


def test_hostile_names_show_as_text(backtest_data: DashboardData, templates_dir: Path) -> None:
    tables = backtest_data.backtests
    hostile = replace(
        backtest_data,
        backtests=replace(tables, events=tables.events.with_columns(
            pl.when(pl.col("event_id") == "covid_2020").then(pl.lit(XSS_PROBE)).otherwise("label").alias("label"))),
        strategies=replace(backtest_data.strategies, comparison=backtest_data.strategies.comparison.with_columns(
            pl.when(pl.col("template_id") == "collar_95_110").then(pl.lit(XSS_PROBE)).otherwise("display_name")
            .alias("display_name"))),
    )
    html = render_page(BACKTESTS_PAGE, hostile, templates_dir)
    parsed = parse(html)

    assert XSS_PROBE not in html
    assert text(section(html, "events")).count(text(ESCAPED_PROBE)) == 4  # the event and the best policy thrice
    assert f"1 {ESCAPED_PROBE} yes" in text(section(html, "event-gfc_2008"))
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in html.split('id="paths-chart-1-spec">', 1)[1]
    assert not [tag for tag, _ in parsed.tags if tag == "img"]


def test_page_stays_under_budget_with_a_full_size_run(dashboard_data: DashboardData, templates_dir: Path,
                                                      tmp_path: Path) -> None:
    """11 events x 9 policies (10 of 260 days, the longest charted daily, and the full history of 5,600)
    and a 10,000-policy sweep."""
    frames = large_backtest_frames()
    tables = load_backtest_tables(tmp_path / "vault.duckdb", frames)
    data = replace(dashboard_data, backtests=tables)
    html = render_page(BACKTESTS_PAGE, data, templates_dir)
    context = build_backtests_context(data)
    full = next(panel for panel in context.events if panel.event.event_id == "full")

    assert tables.paths.height == 9 * (10 * 260 + 5_600) and tables.sweep.height == 10_000
    assert len(html.encode("utf-8")) <= PAGE_BUDGET_BYTES
    assert html.count('class="chart-spec"') == 12  # every event's paths and the sweep
    assert all(panel.resolution is None for panel in context.events[:-1]) and full.resolution == "monthly"
    assert context.sweep.points.height < 1_000
    assert "of the 9,960 others" in context.sweep.cloud_note


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_page_draws_every_chart_in_chromium_with_nothing_off_the_machine(backtests_site: Path, browser: Any,
                                                                         viewport: dict[str, int]) -> None:
    with serve(backtests_site) as url, offline_tab(browser, viewport, is_mobile=viewport is PHONE) as tab:
        tab.open(url + "backtests.html")
        chart_ids = tab.page.locator("div.chart").evaluate_all("divs => divs.map(div => div.id)")
        marks = [tab.page.locator(f"#{chart_id} > svg .role-mark").count() for chart_id in chart_ids]
        legend = tab.page.locator("#paths-chart-1 svg .role-legend-label text").all_text_contents()
        page_width = tab.page.evaluate("document.documentElement.scrollWidth")
        tables_scroll = tab.page.locator("table").evaluate_all(
            "tables => tables.map(t => t.parentElement.classList.contains('table-scroll') "
            "&& t.parentElement.clientWidth <= document.documentElement.clientWidth)")
        shot = screenshot(tab, f"backtests-{'phone' if viewport is PHONE else 'desktop'}-with-results.png")

        tab.assert_clean()
    assert chart_ids == ["paths-chart-1", "paths-chart-2", "paths-chart-3", "pareto-chart"]
    assert all(count >= 2 for count in marks), marks
    assert legend == [COLLAR, PUT_95, "protective_put_90", SPREAD, "Unhedged"]
    assert page_width <= viewport["width"] and all(tables_scroll)
    assert shot.stat().st_size > 10_000
    assert all(request.startswith(url) or request.startswith("data:") for request in tab.requests)


@pytest.mark.browser
def test_page_reads_without_javascript(backtests_site: Path, browser: Any) -> None:
    """Scripts off: the static SVGs show, and the event list links to each event's section."""
    with serve(backtests_site) as url, offline_tab(browser, java_script_enabled=False) as tab:
        tab.page.goto(url + "backtests.html", wait_until="load")
        drawn = [tab.page.locator(f"#{chart_id} svg").first.is_visible()
                 for chart_id in ("paths-chart-1", "paths-chart-2", "paths-chart-3", "pareto-chart")]
        tab.page.get_by_role("link", name="COVID-19 crash 2020").click()
        tab.page.wait_for_url(url + "backtests.html#event-covid_2020")
        in_view = tab.page.locator("#event-covid_2020 h2").evaluate(
            "h => h.getBoundingClientRect().top >= 0 && h.getBoundingClientRect().top < innerHeight")

    assert tab.blocked_requests == []
    assert drawn == [True, True, True, True]
    assert in_view
