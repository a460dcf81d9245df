"""Static, offline dashboard: an overview and a strategies page, their downloads, and a locally
built Vega bundle.

The site is viewed behind a VPN with no internet, so nothing may come from a CDN:
the Vega/Vega-Lite/vega-embed JavaScript is produced by vl-convert on this machine,
cached under `build/`, and served next to the pages.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version
from pathlib import Path

import polars as pl
import vl_convert as vlc
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from pipeline.publish.charts import (
    hedged_ltv_heatmap,
    ltv_history_chart,
    page_chart,
    payoff_chart,
    protection_cost_chart,
    vegalite_version,
)
from pipeline.publish.context import OverviewContext, classify_status
from pipeline.publish.formatting import (
    format_number,
    format_pct,
    format_signed_pct,
    format_usd,
    format_vol_points,
)
from pipeline.publish.strategies import DOWNLOADS_DIR, StrategiesContext

BUNDLE_RELATIVE_PATH = "assets/vega-bundle.js"
DEFAULT_BUNDLE_CACHE_DIR = Path(__file__).resolve().parents[2] / "build" / "vega-bundle"


@dataclass(frozen=True)
class SitePage:
    """One page of the site: its template, which is also its file name, and its navigation title."""

    file_name: str
    title: str


OVERVIEW_PAGE = SitePage("index.html", "Overview")
STRATEGIES_PAGE = SitePage("strategies.html", "Strategies")
SITE_PAGES: tuple[SitePage, ...] = (OVERVIEW_PAGE, STRATEGIES_PAGE)


def template_environment(templates_dir: Path) -> Environment:
    """Jinja environment shared by the pages and the PDF: autoescaped, strict, with number filters."""
    environment = Environment(
        loader=FileSystemLoader(templates_dir),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        pct=format_pct,
        signed_pct=format_signed_pct,
        vol_points=format_vol_points,
        usd=format_usd,
        number=format_number,
        status_level=classify_status,
    )
    environment.globals["site_pages"] = SITE_PAGES
    return environment


def vega_bundle(cache_dir: Path = DEFAULT_BUNDLE_CACHE_DIR) -> Path:
    """Path to the offline Vega/Vega-Lite/vega-embed bundle, building it once per version.

    vl-convert's default snippet puts `vegaEmbed`, `vega` and `vegaLite` on `window`.
    The file name carries the vl-convert and Vega-Lite versions, so an upgrade
    rebuilds it and an unchanged setup reuses it (building takes a few seconds).
    """
    vl_version = vegalite_version()
    cached = cache_dir / f"vega-bundle-vlconvert{version('vl-convert-python')}-vl{vl_version}.js"
    if cached.is_file() and cached.stat().st_size > 0:
        return cached
    javascript = vlc.javascript_bundle(vl_version=vl_version)
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(cached, javascript.encode("utf-8"))
    return cached


def render_overview_html(context: OverviewContext, ltv: pl.DataFrame, templates_dir: Path) -> str:
    """The overview page as HTML text, referencing the bundle by a relative path."""
    return _render_page(OVERVIEW_PAGE, templates_dir, ctx=context,
                        ltv_chart=page_chart(partial(ltv_history_chart, ltv)))


def render_strategies_html(context: StrategiesContext, templates_dir: Path) -> str:
    """The strategies page as HTML text; charts only for the data there is."""
    grid = context.hedged_ltv_grid
    return _render_page(
        STRATEGIES_PAGE,
        templates_dir,
        ctx=context,
        hedged_ltv_chart=(page_chart(partial(hedged_ltv_heatmap, grid, context.margin_call_ltv))
                          if grid.height and context.margin_call_ltv is not None else None),
        payoff_charts=[(panel, page_chart(partial(payoff_chart, panel.payoff))) for panel in context.payoffs],
        cost_chart=(page_chart(partial(protection_cost_chart, context.cost_index))
                    if context.cost_index.height else None),
    )


def _render_page(page: SitePage, templates_dir: Path, **variables: object) -> str:
    template = template_environment(templates_dir).get_template(page.file_name)
    return template.render(current_page=page.file_name, bundle_path=BUNDLE_RELATIVE_PATH, **variables)


def order_preview_downloads(context: StrategiesContext) -> dict[str, bytes]:
    """Site-relative path -> CSV bytes: each template's analytics.order_preview rows."""
    return {ticket.download_path: ticket.rows.write_csv().encode("utf-8") for ticket in context.order_tickets}


def publish_site(
    overview: OverviewContext,
    ltv: pl.DataFrame,
    strategies: StrategiesContext,
    out_dir: Path,
    templates_dir: Path,
    *,
    bundle_cache_dir: Path = DEFAULT_BUNDLE_CACHE_DIR,
) -> Path:
    """Write the pages, the order-preview CSVs and `assets/vega-bundle.js` under `out_dir`;
    return the overview page's path.

    Everything is rendered first and staged in a temporary directory beside `out_dir`; files are
    then moved in with atomic renames, the bundle first, then the downloads, the pages last, so a
    failed render never leaves a half-written site and no page links a file not yet there.
    Downloads the new pages no longer link are removed after the pages are replaced.
    """
    pages = {
        OVERVIEW_PAGE.file_name: render_overview_html(overview, ltv, templates_dir),
        STRATEGIES_PAGE.file_name: render_strategies_html(strategies, templates_dir),
    }
    downloads = order_preview_downloads(strategies)
    bundle = vega_bundle(bundle_cache_dir)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.staging-") as staging_name:
        staging = Path(staging_name)
        published_bundle = out_dir / BUNDLE_RELATIVE_PATH
        staged: dict[str, Path] = {}
        if not published_bundle.is_file() or _sha256(published_bundle) != _sha256(bundle):
            staged[BUNDLE_RELATIVE_PATH] = _stage(staging, BUNDLE_RELATIVE_PATH, bundle.read_bytes())
        for relative_path, data in downloads.items():
            staged[relative_path] = _stage(staging, relative_path, data)
        for name, html in pages.items():
            staged[name] = _stage(staging, name, html.encode("utf-8"))

        for relative_path, staged_file in staged.items():  # insertion order: bundle, downloads, pages
            target = out_dir / relative_path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged_file, target)
    _remove_unlisted_downloads(out_dir / DOWNLOADS_DIR, keep={out_dir / path for path in downloads})
    return out_dir / OVERVIEW_PAGE.file_name


def _stage(staging: Path, relative_path: str, data: bytes) -> Path:
    staged_file = staging / relative_path
    staged_file.parent.mkdir(parents=True, exist_ok=True)
    staged_file.write_bytes(data)
    return staged_file


def _remove_unlisted_downloads(downloads_dir: Path, keep: set[Path]) -> None:
    """Delete files left in the downloads folder by an earlier run that the pages no longer link."""
    if downloads_dir.is_dir():
        for stale in (path for path in downloads_dir.iterdir() if path.is_file() and path not in keep):
            stale.unlink()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory and rename over `path`,
    so readers see either the old file or the complete new one."""
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as temp_file:
            temp_file.write(data)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
