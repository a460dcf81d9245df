"""The static site works offline: local assets only, correct figures, escaped text."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from pipeline.publish.charts import chart_spec, chart_spec_json, ltv_history_chart
from pipeline.publish.context import OverviewContext, build_overview_context, classify_status
from pipeline.publish.formatting import format_pct, format_signed_pct, format_usd, format_vol_points
from pipeline.publish.site import SITE_PAGES, publish_site, render_overview_html, vega_bundle
from pipeline.publish.strategies import StrategiesContext

from .conftest import DATA_STATUS, GENERATED_AT


class AssetReferences(HTMLParser):
    """Collects `<script src>` and `<link href>` values and inline script bodies."""

    def __init__(self) -> None:
        super().__init__()
        self.script_sources: list[str] = []
        self.link_targets: list[str] = []
        self.inline_scripts: list[tuple[str | None, str]] = []
        self._open_script_type: str | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            if attributes.get("src"):
                self.script_sources.append(attributes["src"] or "")
            self._in_script = True
            self._open_script_type = attributes.get("type")
        elif tag == "link" and attributes.get("href"):
            self.link_targets.append(attributes["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append((self._open_script_type, data))


def parse_assets(html: str) -> AssetReferences:
    parser = AssetReferences()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("page", [page.file_name for page in SITE_PAGES])
def test_pages_reference_only_local_assets(published_site: Path, page: str) -> None:
    html = (published_site / page).read_text(encoding="utf-8")
    assets = parse_assets(html)

    assert assets.script_sources == ["assets/vega-bundle.js"]
    for reference in assets.script_sources + assets.link_targets + re.findall(r'href="([^"]*)"', html):
        assert "http://" not in reference and "https://" not in reference and not reference.startswith("//")


@pytest.mark.parametrize("page", SITE_PAGES, ids=lambda page: page.file_name)
def test_every_page_has_language_title_as_of_and_navigation(published_site: Path, page) -> None:
    html = (published_site / page.file_name).read_text(encoding="utf-8")
    nav = html.split('<nav class="site-nav"', 1)[1].split("</nav>", 1)[0]
    links = re.findall(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>', nav)

    assert html.startswith('<!doctype html>\n<html lang="en">')
    assert f"<title>Gold Lombard 2025 · {page.title} · Vault Dashboard</title>" in html
    assert "Data as of 2026-10-06" in html
    assert [(href, title) for href, _, title in links] == [("index.html", "Overview"), ("strategies.html", "Strategies")]
    assert [href for href, current, _ in links if current] == [page.file_name]
    assert "@media print { .site-nav { display: none; } }" in html


def test_bundle_is_written_locally_and_exposes_vega_embed(published_site: Path) -> None:
    bundle = published_site / "assets" / "vega-bundle.js"

    assert bundle.stat().st_size > 300_000  # vega + vega-lite + vega-embed, ~0.9 MB
    assert "window.vegaEmbed" in bundle.read_text(encoding="utf-8")[-2_000:]


def test_page_shows_the_key_figures(published_site: Path, overview_context: OverviewContext) -> None:
    html = (published_site / "index.html").read_text(encoding="utf-8")

    assert overview_context.as_of == date(2026, 10, 6)
    assert format_pct(overview_context.ltv) == "65.4%"  # 250,000 / (1,000 × 382.27)
    for figure in ("65.4%", "$382.27", "$333.33", "12.8%", "$250,000", "$382,270", "75.0%"):
        assert figure in html, figure
    assert "2026-10-06" in html
    assert "stale: yfinance unreachable (timeout after 20s)" in html
    assert 'class="badge embedded"' in html and 'class="badge stale"' in html


def test_chart_spec_is_embedded_as_json_with_the_margin_call_rule(published_site: Path) -> None:
    assets = parse_assets((published_site / "index.html").read_text(encoding="utf-8"))
    json_blocks = [body for script_type, body in assets.inline_scripts if script_type == "application/json"]

    assert len(json_blocks) == 1
    spec = json.loads(json_blocks[0])
    mark_types = [layer["mark"]["type"] for layer in spec["layer"]]
    assert mark_types == ["line", "rule", "text"]
    assert spec["layer"][1]["encoding"]["y"]["datum"] == 0.75


def test_portfolio_name_is_autoescaped(overview_context: OverviewContext, ltv_frame: pl.DataFrame, templates_dir: Path) -> None:
    hostile = replace(overview_context, portfolio_name="<script>alert(1)</script>")

    html = render_overview_html(hostile, ltv_frame, templates_dir)

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_spec_json_cannot_close_its_script_tag(ltv_frame: pl.DataFrame, templates_dir: Path, overview_context: OverviewContext) -> None:
    html = render_overview_html(overview_context, ltv_frame, templates_dir)
    spec_block = html.split('id="ltv-chart-spec">', 1)[1].split("</script>", 1)[0]

    assert "<" not in spec_block
    assert json.loads(spec_block) == json.loads(chart_spec_json(ltv_history_chart(ltv_frame, width="container")))


def test_republish_replaces_pages_and_keeps_identical_bundle(
    overview_context: OverviewContext, ltv_frame: pl.DataFrame, strategies_context: StrategiesContext,
    templates_dir: Path, bundle_cache_dir: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "public"
    publish_site(overview_context, ltv_frame, strategies_context, out_dir, templates_dir,
                 bundle_cache_dir=bundle_cache_dir)
    bundle_mtime = (out_dir / "assets" / "vega-bundle.js").stat().st_mtime_ns

    publish_site(replace(overview_context, portfolio_name="Second run"), ltv_frame,
                 replace(strategies_context, portfolio_name="Second run"), out_dir, templates_dir,
                 bundle_cache_dir=bundle_cache_dir)

    assert "Second run" in (out_dir / "index.html").read_text(encoding="utf-8")
    assert "Second run" in (out_dir / "strategies.html").read_text(encoding="utf-8")
    assert (out_dir / "assets" / "vega-bundle.js").stat().st_mtime_ns == bundle_mtime
    assert sorted(path.name for path in tmp_path.iterdir()) == ["public"]  # no staging left behind


def test_failed_render_leaves_the_published_site_untouched(
    published_site: Path, overview_context: OverviewContext, ltv_frame: pl.DataFrame,
    strategies_context: StrategiesContext, templates_dir: Path, bundle_cache_dir: Path, tmp_path: Path
) -> None:
    """The overview renders; the strategies page fails: nothing of either run may land."""
    broken_templates = tmp_path / "templates"
    shutil.copytree(templates_dir, broken_templates)
    (broken_templates / "strategies.html").write_text("{{ ctx.no_such_field }}", encoding="utf-8")
    before = {path: path.read_bytes() for path in published_site.rglob("*") if path.is_file()}

    with pytest.raises(Exception, match="no_such_field"):
        publish_site(replace(overview_context, portfolio_name="Never published"), ltv_frame, strategies_context,
                     published_site, broken_templates, bundle_cache_dir=bundle_cache_dir)

    assert {path: path.read_bytes() for path in published_site.rglob("*") if path.is_file()} == before
    assert [path.name for path in published_site.parent.iterdir()] == ["public"]


def test_context_refuses_an_empty_ltv_frame(ltv_frame: pl.DataFrame, prices_frame: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="ltv_daily is empty"):
        build_overview_context(ltv_frame.clear(), prices_frame, DATA_STATUS, "x", GENERATED_AT)


def test_context_takes_latest_fetch_and_classifies_status(ltv_frame: pl.DataFrame, prices_frame: pl.DataFrame) -> None:
    refetched = prices_frame.tail(1).with_columns(
        pl.lit(999.0).alias("close"),
        pl.lit("yfinance").alias("source"),
        pl.col("fetched_at").dt.offset_by("1h"),
    )
    other_symbol = prices_frame.tail(1).with_columns(pl.lit("GVZ").alias("symbol"), pl.col("date").dt.offset_by("1d"))

    context = build_overview_context(
        ltv_frame, pl.concat([prices_frame, refetched, other_symbol]), DATA_STATUS, "x", GENERATED_AT
    )

    assert (context.gld_close, context.gld_close_source, context.gld_close_source_level) == (999.0, "yfinance", "fresh")
    levels = {status.source: status.level for status in context.data_status}
    assert levels == {"gvz": "embedded", "prices": "embedded", "rates": "stale"}
    assert context.has_degraded_data


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
def test_status_levels_never_show_model_or_partial_data_as_fresh(detail, level):
    assert classify_status(detail) == level


@pytest.mark.parametrize(("last_ltv", "expected"), [(0.74, "bottom"), (0.80, "top")])
def test_margin_call_label_sits_on_the_side_of_the_rule_away_from_the_latest_ltv(
    ltv_frame: pl.DataFrame, last_ltv: float, expected: str
) -> None:
    """With the rule at 75%, a history ending at 74% runs just under the label's right-edge spot, so
    the label goes above the rule (text baseline at the bottom); one ending at 80% puts it below."""
    frame = ltv_frame.with_columns(
        pl.when(pl.col("date") == pl.col("date").max()).then(last_ltv).otherwise(pl.col("ltv")).alias("ltv")
    )
    spec = chart_spec(ltv_history_chart(frame))
    label = spec["layer"][2]["mark"]
    assert label["baseline"] == expected
    assert (label["dy"] < 0) == (expected == "bottom")
