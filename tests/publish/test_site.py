"""The static site: every page shares the layout, uses local files only, fits its budget, shows the
right figures, publishes atomically, and never turns data into markup."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pypdf
import pytest
from polars.testing import assert_frame_equal

from pipeline.publish.chain import build_chain_context
from pipeline.publish.charts import RANGE_PARAM, chart_spec, ltv_history_chart
from pipeline.publish.context import build_site_header, classify_status, ltv_levels
from pipeline.publish.data import DashboardData
from pipeline.publish.formatting import format_pct, format_signed_pct, format_usd, format_vol_points
from pipeline.publish.overview import build_overview_context, ltv_gauge
from pipeline.publish.pdf import render_report_pdf
from pipeline.publish.site import (
    CHAIN_PAGE,
    DATA_METHOD_PAGE,
    OVERVIEW_PAGE,
    SITE_PAGES,
    publish_site,
    render_page,
    vega_bundle,
)

from .conftest import PORTFOLIO_NAME, STALE_REASON, ingest_status

PAGE_BUDGET_BYTES = 1_500_000
XSS_PROBE = "<img src=x onerror=alert(1)>"
ESCAPED_PROBE = "&lt;img src=x onerror=alert(1)&gt;"
NAV = [("index.html", "Overview"), ("chain.html", "Option chain"), ("ltv-history.html", "LTV history"),
       ("strategies.html", "Strategies"), ("backtests.html", "Backtests"), ("alerts.html", "Alerts"),
       ("data-method.html", "Data &amp; method")]
PAGE_IDS = [page.file_name for page in SITE_PAGES]


class PageParser(HTMLParser):
    """Start tags with their attributes, and the bodies of inline scripts by type."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_scripts: list[tuple[str | None, str]] = []
        self._script_type: str | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script, self._script_type = True, dict(attrs).get("type")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append((self._script_type, data))

    def attribute(self, tag: str, name: str) -> list[str]:
        return [attrs[name] or "" for t, attrs in self.tags if t == tag and attrs.get(name)]


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


def page_html(site: Path, file_name: str) -> str:
    return (site / file_name).read_text(encoding="utf-8")


@pytest.mark.parametrize("page", SITE_PAGES, ids=PAGE_IDS)
def test_every_page_has_language_title_source_as_of_and_navigation(published_site: Path, page) -> None:
    html = page_html(published_site, page.file_name)
    nav = html.split('<nav class="site-nav"', 1)[1].split("</nav>", 1)[0]
    links = re.findall(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>', nav)

    assert html.startswith('<!doctype html>\n<html lang="en">')
    assert f"<title>{PORTFOLIO_NAME} · {page.title.replace('&', '&amp;')} · Vault Dashboard</title>" in html
    assert "2026-10-06" in html.split("</header>", 1)[0]
    assert ("Data source: GLD prices, GVZ (gold implied vol): embedded history · 3-month T-bill: stale · "
            "option chain: model, not market quotes") in html
    assert [(href, title) for href, _, title in links] == NAV
    assert [href for href, current, _ in links if current] == [page.file_name]
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


@pytest.mark.parametrize("page", SITE_PAGES, ids=PAGE_IDS)
def test_every_page_shows_the_stale_banner_while_an_input_is_stale(published_site: Path, page) -> None:
    html = page_html(published_site, page.file_name)

    assert "Stale or partial data: 3-month T-bill is stale" in html
    assert STALE_REASON in html and "data through 2026-08-12" in html


def test_no_banner_when_nothing_is_stale_or_partial(dashboard_data: DashboardData, templates_dir: Path) -> None:
    fresh = replace(dashboard_data, ingest_status=ingest_status(stale_table=None))
    partial = replace(dashboard_data, ingest_status=ingest_status().with_columns(
        pl.when(pl.col("table_name") == "raw.prices_daily").then(pl.lit("partial")).otherwise("status").alias("status")))

    assert "Stale or partial data" not in render_page(OVERVIEW_PAGE, fresh, templates_dir)
    assert "GLD prices is partial" in render_page(OVERVIEW_PAGE, partial, templates_dir)


@pytest.mark.parametrize("page", SITE_PAGES, ids=PAGE_IDS)
def test_pages_load_only_local_files(published_site: Path, page) -> None:
    parsed = parse(page_html(published_site, page.file_name))
    references = parsed.attribute("script", "src") + parsed.attribute("link", "href") + parsed.attribute("a", "href")

    expected_scripts = (["assets/vega-bundle.js"] if page.has_charts else []) + ["assets/dashboard.js"]
    assert parsed.attribute("script", "src") == expected_scripts
    assert all((published_site / src).is_file() for src in expected_scripts)
    assert not [ref for ref in references if re.match(r"^(https?:)?//", ref)]
    assert not [ref for ref in parsed.attribute("img", "src") if not ref.startswith("data:")]


@pytest.mark.parametrize("page", SITE_PAGES, ids=PAGE_IDS)
def test_every_page_stays_under_its_size_budget(published_site: Path, page) -> None:
    """The HTML with all its inline data (the shared Vega bundle is a separate, cached file)."""
    assert (published_site / page.file_name).stat().st_size <= PAGE_BUDGET_BYTES


@pytest.mark.parametrize("page", SITE_PAGES, ids=PAGE_IDS)
def test_pages_have_no_inline_event_handlers_and_tables_scroll(published_site: Path, page) -> None:
    html = page_html(published_site, page.file_name)
    parsed = parse(html)

    assert not [attrs for _, attrs in parsed.tags if any(name.startswith("on") for name in attrs)]
    assert {script_type for script_type, _ in parsed.inline_scripts} <= {"application/json"}
    assert html.count("<table") == html.count('<div class="table-scroll">')
    assert all("<th scope=\"col\"" in table for table in html.split("<table")[1:])


def test_bundle_is_written_locally_and_exposes_vega_embed(published_site: Path) -> None:
    bundle = published_site / "assets" / "vega-bundle.js"

    assert bundle.stat().st_size > 300_000  # vega + vega-lite + vega-embed, ~0.9 MB
    assert "window.vegaEmbed" in bundle.read_text(encoding="utf-8")[-2_000:]


def test_overview_shows_the_key_figures(published_site: Path, dashboard_data: DashboardData) -> None:
    html = page_html(published_site, "index.html")
    context = build_overview_context(dashboard_data)

    assert context.as_of == date(2026, 10, 6)
    assert format_pct(context.ltv) == "65.4%"  # 250,000 / (1,000 × 382.27)
    for figure in ("65.4%", "$382.27", "$333.33", "12.8%", "$277.78", "$20,638", "$250,000", "$382,270"):
        assert figure in html, figure
    hedged_fall = 1 - context.hedged_margin_call_price / 382.27
    assert f"with the hedges: {format_pct(hedged_fall)}" in html
    assert f"{format_pct(context.hedged_ltv)} counting hedges worth {format_usd(context.hedge_value)}" in html
    assert "pledge 90 more shares" in html  # 250,000 / 0.60 / 382.27 = 1,089.98 shares


def test_overview_lists_held_hedges_with_triage_and_days_left(published_site: Path,
                                                              positions_frame: pl.DataFrame) -> None:
    hedges = page_html(published_site, "index.html").split('id="hedges"', 1)[1].split("</section>", 1)[0]
    held = positions_frame.filter(pl.col("date") == date(2026, 10, 6)).sort("expiry")

    assert held["position_id"].to_list() == ["oct-400-put", "dec-380-put"]
    assert hedges.index("oct-400-put") < hedges.index("dec-380-put")  # soonest expiry first
    assert '<span class="badge triage-roll">ROLL</span>' in hedges and "dte 10 &lt; 21" in hedges
    assert '<progress max="107" value="10"' in hedges  # 2026-07-01 .. 2026-10-16
    assert '<progress max="200" value="73"' in hedges  # 2026-06-01 .. 2026-12-18
    for mark in held["mark"]:
        assert format_usd(mark, 2) in hedges


def test_overview_lists_only_open_alerts_most_severe_first(published_site: Path) -> None:
    open_alerts = page_html(published_site, "index.html").split('id="open-alerts"', 1)[1].split("</section>", 1)[0]

    assert "hedge_expiring" in open_alerts and "hedge_triage" in open_alerts
    assert "ltv_warn" not in open_alerts  # it cleared in the second run
    assert open_alerts.index("hedge_expiring") < open_alerts.index("hedge_triage")  # warning before info


def test_overview_shows_the_protection_signal(published_site: Path) -> None:
    signal = page_html(published_site, "index.html").split('id="protection-signal"', 1)[1].split("</section>", 1)[0]

    assert "protection rich" in signal and "NVRP +25%" in signal  # 0.215 / 0.172 - 1, the fixture's latest day


def test_levels_merge_when_critical_is_the_margin_call() -> None:
    levels = ltv_levels(0.70, 0.75, 0.75, liquidation=0.90, target=0.60)

    assert [(level.label, level.ltv, level.kind) for level in levels] == [
        ("Target", 0.60, "target"), ("Warn", 0.70, "warn"), ("Critical / margin call", 0.75, "margin-call"),
        ("Liquidation", 0.90, "liquidation")]


def test_gauge_spans_whole_tens_around_every_level_and_colours_by_severity() -> None:
    gauge = ltv_gauge(0.719, 0.704, ltv_levels(0.70, 0.75, 0.75, liquidation=0.90, target=0.60))

    assert (gauge.low, gauge.high) == (0.5, 1.0)
    assert gauge.ltv_pct == pytest.approx(43.8)  # (0.719 - 0.5) / 0.5
    assert [(s.kind, s.start_pct, s.width_pct) for s in gauge.segments] == [
        ("ok", 0.0, 40.0), ("warn", 40.0, 10.0), ("margin-call", 50.0, 30.0), ("liquidation", 80.0, 20.0)]
    assert [tick.row for tick in gauge.ticks] == [0, 1, 2, 0]


def test_ltv_chart_draws_both_lines_and_a_rule_per_level(dashboard_data: DashboardData) -> None:
    context = build_overview_context(dashboard_data)
    spec = chart_spec(ltv_history_chart(context.history, context.levels))
    lines, rules, labels = spec["layer"]
    rows = spec["datasets"][lines["data"]["name"]]

    assert spec["params"] == [{"name": RANGE_PARAM, "value": (date(2026, 10, 6) - date(2025, 6, 2)).days + 1}]
    assert lines["transform"] == [{"filter": f"datum.days_back < {RANGE_PARAM}"}]
    assert {row["series"] for row in rows} == {"LTV", "LTV with hedges"}
    assert len(rows) == 2 * dashboard_data.ltv.height
    assert [row["ltv"] for row in spec["datasets"][rules["data"]["name"]]] == [0.70, 0.75]
    assert labels["mark"]["type"] == "text"


def test_chart_specs_cannot_close_their_script_tag(published_site: Path) -> None:
    for page in SITE_PAGES:
        for script_type, body in parse(page_html(published_site, page.file_name)).inline_scripts:
            assert script_type == "application/json" and "<" not in body
            json.loads(body)


def test_chain_page_inlines_only_the_first_expiry_and_writes_one_file_per_expiry(
        published_site: Path, chain_frame: pl.DataFrame) -> None:
    html = page_html(published_site, "chain.html")
    inline = json.loads(html.split('id="chain-data">', 1)[1].split("</script>", 1)[0])
    expiries = chain_frame.group_by("expiry").len().sort("expiry")
    files = sorted((published_site / "data" / "chain").iterdir())

    assert [e["expiry"] for e in inline["expiries"]] == [d.isoformat() for d in expiries["expiry"]]
    assert [e["contracts"] for e in inline["expiries"]] == expiries["len"].to_list()
    assert inline["first"]["expiry"] == expiries["expiry"][0].isoformat()
    assert len(inline["first"]["rows"]) == expiries["len"][0]
    assert [path.name for path in files] == [f"{d.isoformat()}.json" for d in expiries["expiry"]]
    for path, listed in zip(files, inline["expiries"], strict=True):
        document = json.loads(path.read_text())
        expected = chain_frame.filter(pl.col("expiry") == date.fromisoformat(listed["expiry"]))
        assert listed["href"] == f"data/chain/{path.name}"
        assert [row["cells"][0] for row in document["rows"]] == expected["contract"].to_list()
        assert {row["cells"][1] for row in document["rows"]} == {"model"}  # the source column of every row
    assert "model, not market quotes" in html


def test_chain_rows_carry_formatted_greeks_and_flags(chain_frame: pl.DataFrame, dashboard_data: DashboardData) -> None:
    context = build_chain_context(dashboard_data)
    put = chain_frame.filter((pl.col("option_right") == "P") & (pl.col("quality_flags") == "")).row(0, named=True)
    document = context.documents[f"data/chain/{put['expiry'].isoformat()}.json"]
    row = next(row for row in document["rows"] if row["cells"][0] == put["contract"])

    assert row["right"] == "P" and row["moneyness"] == round(put["moneyness"], 4)
    assert row["cells"][2:] == [
        "Put", f"{put['strike']:,.2f}", format_pct(put["moneyness"]), f"{put['bid']:,.2f}", f"{put['ask']:,.2f}",
        f"{put['mid']:,.2f}", format_pct(put["iv"]), f"{put['delta']:,.3f}", f"{put['gamma']:,.4f}",
        f"{put['theta'] / 365:,.3f}", f"{put['vega'] / 100:,.3f}", "clean"]
    flagged = chain_frame.filter(pl.col("quality_flags") != "").row(0, named=True)
    cells = next(r["cells"] for r in context.documents[f"data/chain/{flagged['expiry'].isoformat()}.json"]["rows"]
                 if r["cells"][0] == flagged["contract"])
    assert cells[-1].startswith(flagged["quality_flags"].replace("_", " "))


def test_ltv_downloads_hold_the_tables(published_site: Path, ltv_frame: pl.DataFrame,
                                       positions_frame: pl.DataFrame) -> None:
    html = page_html(published_site, "ltv-history.html")

    for name, frame in (("ltv_daily", ltv_frame), ("positions_daily", positions_frame)):
        assert f'href="downloads/{name}.csv"' in html
        written = pl.read_csv(published_site / "downloads" / f"{name}.csv", schema=frame.schema)
        assert_frame_equal(written, frame)


def test_ltv_range_buttons_carry_their_days_and_summaries(published_site: Path, ltv_frame: pl.DataFrame) -> None:
    html = page_html(published_site, "ltv-history.html")
    buttons = re.findall(r'<button type="button" data-range-days="(\d+)" data-summary="([^"]+)" '
                         r'aria-pressed="(true|false)">([^<]+)</button>', html)
    last_30 = ltv_frame.filter(pl.col("date") > date(2026, 9, 6))

    assert [(days, label, pressed) for days, _, pressed, label in buttons] == [
        ("7", "7 days", "false"), ("30", "30 days", "false"), ("90", "90 days", "false"), ("492", "All", "true")]
    assert buttons[1][1] == (
        f"Last 30 days ({last_30['date'].min().isoformat()} to 2026-10-06, {last_30.height} trading days): "
        f"LTV {format_pct(last_30['ltv'].min())} to {format_pct(last_30['ltv'].max())}, with hedges "
        f"{format_pct(last_30['hedged_ltv'].min())} to {format_pct(last_30['hedged_ltv'].max())}; "
        f"GLD {format_usd(last_30['gld_close'].min(), 2)} to {format_usd(last_30['gld_close'].max(), 2)}, "
        "margin-call price $333.33.")
    assert f'data-range-param="{RANGE_PARAM}"' in html
    assert html.count("data-ranged>") == 2


def test_alert_log_pairs_starts_and_clears_newest_first(published_site: Path) -> None:
    log = page_html(published_site, "alerts.html").split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = log.split("<tr")[1:]

    assert [re.search(r'class="alert-name">(\w+)', row).group(1) for row in rows] == [
        "hedge_triage", "hedge_expiring", "ltv_warn"]  # started 2026-10-06, 10-05, 10-05
    warn = rows[2]
    assert "2026-10-05 06:30 UTC" in warn and "2026-10-06 06:30 UTC" in warn  # started, cleared
    assert "sent, 1 attempt, sent 2026-10-05 06:30 UTC" in warn
    assert "pending, 2 attempts" in warn and "SMTP connect to mail.example.com:587 refused" in warn
    assert "<strong>open</strong>" in rows[0] and "<strong>open</strong>" in rows[1]


def test_data_method_page_lists_inputs_checks_sources_and_version(published_site: Path) -> None:
    html = page_html(published_site, "data-method.html")
    checks = html.split('id="checks"', 1)[1].split("</section>", 1)[0]

    for table in ("raw.prices_daily", "raw.gvz_daily", "raw.rates_daily", "raw.option_quotes"):
        assert f"<code>{table}</code>" in html
    assert "1 of 3 passed" in checks
    assert '<span class="badge check-failed">failed</span>' in checks and "55 days old" in checks
    assert '<span class="badge check-not-evaluated">not evaluated</span>' in checks
    assert "run 0f3c9a12" in checks
    for document in ("data/SOURCES.md", "docs/pricing.md", "docs/chain_model.md", "docs/methodology.md"):
        assert f'href="../../{document}"' in html
        assert (Path(__file__).resolve().parents[2] / document).is_file()
    assert "<strong>2026.12.1</strong>" in html


def test_data_method_page_says_when_checks_are_not_available(dashboard_data: DashboardData,
                                                             templates_dir: Path) -> None:
    html = render_page(DATA_METHOD_PAGE, replace(dashboard_data, checks=None), templates_dir)

    assert "Not available: this site was published outside Dagster" in html


def hostile(data: DashboardData) -> DashboardData:
    """The probe as the portfolio name, a hedge id, an alert subject and message, a template name
    and a chain contract."""
    probe = pl.lit(XSS_PROBE)
    near_the_money = (pl.col("moneyness") - 1).abs() <= 0.05  # the first such row is in the first expiry
    return replace(
        data,
        portfolio_name=XSS_PROBE,
        positions=data.positions.with_columns(
            pl.when(pl.col("position_id") == "oct-400-put").then(probe).otherwise("position_id").alias("position_id")),
        alerts=data.alerts.with_columns(subject=probe, message=probe + pl.col("message")),
        chain=data.chain.sort("expiry", "option_right", "strike").with_columns(  # a row shown when the page opens
            pl.when(near_the_money & (near_the_money.cum_sum() == 1)).then(probe).otherwise("contract")
            .alias("contract")),
        strategies=replace(data.strategies, comparison=data.strategies.comparison.with_columns(
            pl.when(pl.col("template_id") == "collar_95_110").then(probe).otherwise("display_name")
            .alias("display_name"))),
    )


@pytest.mark.parametrize("page", SITE_PAGES, ids=PAGE_IDS)
def test_hostile_names_show_as_text_on_every_page(dashboard_data: DashboardData, templates_dir: Path, page) -> None:
    html = render_page(page, hostile(dashboard_data), templates_dir)
    parsed = parse(html)

    assert XSS_PROBE not in html
    assert ESCAPED_PROBE in html.split("</header>", 1)[0]  # the masthead
    if page is CHAIN_PAGE:  # the contract sits in the page's JSON data, escaped
        assert "\\u003cimg src=x onerror=alert(1)\\u003e" in html.split('id="chain-data">', 1)[1]
    assert not [tag for tag, _ in parsed.tags if tag == "img"]
    assert not [attrs for _, attrs in parsed.tags if any(name.startswith("on") for name in attrs)]


def test_hostile_names_show_as_text_in_the_pdf(dashboard_data: DashboardData, templates_dir: Path,
                                               tmp_path: Path) -> None:
    pages = pypdf.PdfReader(render_report_pdf(hostile(dashboard_data), tmp_path / "r.pdf", templates_dir)).pages
    first = " ".join(pages[0].extract_text().split())
    rest = " ".join(" ".join(page.extract_text() for page in pages[1:]).split())

    assert first.count(XSS_PROBE) >= 3  # masthead, the hedge, the open alerts
    assert XSS_PROBE in rest  # the collar's column


def test_republish_replaces_pages_and_keeps_identical_bundle(
        dashboard_data: DashboardData, templates_dir: Path, bundle_cache_dir: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "public"
    published = publish_site(dashboard_data, out_dir, templates_dir, bundle_cache_dir=bundle_cache_dir)
    bundle_mtime = (out_dir / "assets" / "vega-bundle.js").stat().st_mtime_ns

    publish_site(replace(dashboard_data, portfolio_name="Second run"), out_dir, templates_dir,
                 bundle_cache_dir=bundle_cache_dir)

    assert published.index == out_dir / "index.html"
    assert set(published.page_bytes) == set(PAGE_IDS)
    assert all("Second run" in page_html(out_dir, name) for name in PAGE_IDS)
    assert (out_dir / "assets" / "vega-bundle.js").stat().st_mtime_ns == bundle_mtime
    assert sorted(path.name for path in tmp_path.iterdir()) == ["public"]  # no staging left behind


def test_files_an_earlier_publish_left_behind_are_removed(
        dashboard_data: DashboardData, templates_dir: Path, bundle_cache_dir: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "public"
    publish_site(dashboard_data, out_dir, templates_dir, bundle_cache_dir=bundle_cache_dir)
    first_expiry = dashboard_data.chain["expiry"].min()

    publish_site(replace(dashboard_data, chain=dashboard_data.chain.filter(pl.col("expiry") != first_expiry)),
                 out_dir, templates_dir, bundle_cache_dir=bundle_cache_dir)

    assert not (out_dir / "data" / "chain" / f"{first_expiry.isoformat()}.json").exists()
    assert len(list((out_dir / "data" / "chain").iterdir())) == dashboard_data.chain["expiry"].n_unique() - 1


def test_failed_render_leaves_the_published_site_untouched(
        published_site: Path, dashboard_data: DashboardData, templates_dir: Path, bundle_cache_dir: Path,
        tmp_path: Path) -> None:
    """The first pages render; the last one fails: nothing of the run may land."""
    broken_templates = tmp_path / "templates"
    shutil.copytree(templates_dir, broken_templates)
    (broken_templates / SITE_PAGES[-1].template).write_text("{{ ctx.no_such_field }}", encoding="utf-8")
    before = {path: path.read_bytes() for path in published_site.rglob("*") if path.is_file()}

    with pytest.raises(Exception, match="no_such_field"):
        publish_site(replace(dashboard_data, portfolio_name="Never published"), published_site, broken_templates,
                     bundle_cache_dir=bundle_cache_dir)

    assert {path: path.read_bytes() for path in published_site.rglob("*") if path.is_file()} == before
    assert [path.name for path in published_site.parent.iterdir()] == ["public"]


def test_an_empty_chain_renders_a_page_that_says_so(dashboard_data: DashboardData, templates_dir: Path) -> None:
    html = render_page(CHAIN_PAGE, replace(dashboard_data, chain=dashboard_data.chain.clear()), templates_dir)

    assert "No option chain has been stored yet" in html and 'id="chain-data"' not in html


def test_context_refuses_an_empty_ltv_frame(dashboard_data: DashboardData) -> None:
    with pytest.raises(ValueError, match="ltv_daily is empty"):
        build_overview_context(replace(dashboard_data, ltv=dashboard_data.ltv.clear()))


def test_context_takes_the_latest_fetch_of_the_close(dashboard_data: DashboardData) -> None:
    prices = dashboard_data.prices
    refetched = prices.tail(1).with_columns(pl.lit(999.0).alias("close"), pl.lit("yfinance").alias("source"),
                                            pl.col("fetched_at").dt.offset_by("1h"))
    other_symbol = prices.tail(1).with_columns(pl.lit("GVZ").alias("symbol"), pl.col("date").dt.offset_by("1d"))

    context = build_overview_context(replace(dashboard_data, prices=pl.concat([prices, refetched, other_symbol])))

    assert (context.gld_close, context.gld_close_source, context.gld_close_source_level) == (999.0, "yfinance", "fresh")


def test_header_labels_inputs_in_a_fixed_order(dashboard_data: DashboardData) -> None:
    header = build_site_header(dashboard_data)

    assert [status.table_name for status in header.inputs] == [
        "raw.prices_daily", "raw.gvz_daily", "raw.rates_daily", "raw.option_quotes"]
    assert [status.table_name for status in header.stale_inputs] == ["raw.rates_daily"]


def test_number_filters() -> None:
    assert format_pct(0.6134) == "61.3%"
    assert format_usd(333.3333, 2) == "$333.33"
    assert format_usd(-1234.5) == "-$1,234"
    assert format_usd(-0.2) == "$0"  # never "-$0"
    assert [format_signed_pct(v) for v in (-0.10, 0.0, 0.05, 0.025, -0.0001, 0.2503)] == [
        "-10%", "0%", "+5%", "+2.5%", "0%", "+25%"]
    assert [format_vol_points(v) for v in (-0.05, 0.0, 0.10, -0.025)] == [
        "-5 vol pts", "0 vol pts", "+10 vol pts", "-2.5 vol pts"]


def test_bundle_cache_is_reused_not_rebuilt(bundle_cache_dir: Path) -> None:
    cached = vega_bundle(bundle_cache_dir)
    built_at = cached.stat().st_mtime_ns

    assert vega_bundle(bundle_cache_dir) == cached
    assert cached.stat().st_mtime_ns == built_at
    assert [path.name for path in bundle_cache_dir.iterdir()] == [cached.name]


@pytest.mark.parametrize(
    ("detail", "level"),
    [
        ("embedded: live mode off", "embedded"),
        ("model: live mode off: model chain (GVZ + skew model), not market quotes", "model"),
        ("partial: yfinance returned data through 2026-10-07", "stale"),
        ("stale: live fetch failed", "stale"),
        ("live: fetched 3 rows through 2026-10-09", "fresh"),
    ],
)
def test_status_levels_never_show_model_or_partial_data_as_fresh(detail: str, level: str) -> None:
    assert classify_status(detail) == level


def test_atomic_writes_get_plain_file_permissions(tmp_path):
    """A report written via mkstemp must not stay 0600: Caddy or a mailer may run as another user."""
    import os
    import stat

    from pipeline.publish.site import atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "report.pdf", b"%PDF-1.7\n%%EOF\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.pdf").stat().st_mode) == 0o644
