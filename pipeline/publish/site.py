"""Static, offline dashboard: the page registry, rendering, and the atomic publish.

Each page is one template and one context function over `DashboardData` (`SITE_PAGES`, in
navigation order); a page may add charts (template variables) and files (page data, downloads).
The site is viewed behind a VPN with no internet, so nothing may come from a CDN: the
Vega/Vega-Lite/vega-embed JavaScript is produced by vl-convert on this machine, cached under
`build/`, and served next to the pages with the pages' own script (`assets/dashboard.js`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

import vl_convert as vlc
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from pipeline.publish.alert_log import build_alerts_context
from pipeline.publish.backtests import backtests_charts, backtests_downloads, build_backtests_context
from pipeline.publish.chain import CHAIN_DATA_DIR, ChainContext, build_chain_context
from pipeline.publish.charts import (
    RANGE_PARAM,
    PageChart,
    hedged_ltv_heatmap,
    ltv_history_chart,
    margin_call_chart,
    page_chart,
    payoff_chart,
    protection_cost_chart,
    vegalite_version,
)
from pipeline.publish.context import SiteHeader, build_site_header, classify_status
from pipeline.publish.data import DashboardData
from pipeline.publish.formatting import (
    format_number,
    format_pct,
    format_signed_pct,
    format_usd,
    format_vol_points,
)
from pipeline.publish.history import LtvHistoryContext, build_ltv_history_context
from pipeline.publish.method import build_data_method_context
from pipeline.publish.overview import OverviewContext, build_overview_context
from pipeline.publish.strategies import DOWNLOADS_DIR, StrategiesContext, build_strategies_context

BUNDLE_RELATIVE_PATH: Final = "assets/vega-bundle.js"
SCRIPT_RELATIVE_PATH: Final = "assets/dashboard.js"
SCRIPT_TEMPLATE: Final = "dashboard.js"
DEFAULT_BUNDLE_CACHE_DIR = Path(__file__).resolve().parents[2] / "build" / "vega-bundle"
# Folders whose files are all written by each publish: a file a new publish did not write is removed.
GENERATED_DIRS: Final = (DOWNLOADS_DIR, CHAIN_DATA_DIR)

ContextT = TypeVar("ContextT")


def _no_charts(context: Any) -> Mapping[str, object]:
    return {}


def _no_files(context: Any) -> Mapping[str, bytes]:
    return {}


@dataclass(frozen=True)
class SitePage(Generic[ContextT]):
    """One page of the site: its file, template and navigation title, the function that builds its
    context from the data, and what else it needs (chart variables for the template, files)."""

    file_name: str
    template: str
    title: str
    build_context: Callable[[DashboardData], ContextT]
    charts: Callable[[ContextT], Mapping[str, object]] = _no_charts
    files: Callable[[ContextT], Mapping[str, bytes]] = _no_files

    @property
    def has_charts(self) -> bool:
        """True when the page draws charts, so it loads the Vega bundle."""
        return self.charts is not _no_charts


def _overview_charts(context: OverviewContext) -> dict[str, PageChart]:
    return {"ltv_chart": page_chart(partial(ltv_history_chart, context.history, context.levels))}


def _history_charts(context: LtvHistoryContext) -> dict[str, PageChart]:
    return {"ltv_chart": page_chart(partial(ltv_history_chart, context.history, context.levels)),
            "margin_chart": page_chart(partial(margin_call_chart, context.history))}


def _strategies_context(data: DashboardData) -> StrategiesContext:
    return build_strategies_context(data.strategies, data.portfolio_name, data.risk_profile, data.generated_at)


def _strategies_charts(context: StrategiesContext) -> dict[str, object]:
    """Charts only for the data there is."""
    grid = context.hedged_ltv_grid
    return {
        "hedged_ltv_chart": (page_chart(partial(hedged_ltv_heatmap, grid, context.margin_call_ltv))
                             if grid.height and context.margin_call_ltv is not None else None),
        "payoff_charts": [(panel, page_chart(partial(payoff_chart, panel.payoff))) for panel in context.payoffs],
        "cost_chart": (page_chart(partial(protection_cost_chart, context.cost_index))
                       if context.cost_index.height else None),
    }


def order_preview_downloads(context: StrategiesContext) -> dict[str, bytes]:
    """Site-relative path -> CSV bytes: each template's analytics.order_preview rows."""
    return {ticket.download_path: ticket.rows.write_csv().encode("utf-8") for ticket in context.order_tickets}


OVERVIEW_PAGE = SitePage("index.html", "overview.html", "Overview", build_overview_context, charts=_overview_charts)
CHAIN_PAGE = SitePage("chain.html", "chain.html", "Option chain", build_chain_context, files=ChainContext.files)
LTV_HISTORY_PAGE = SitePage("ltv-history.html", "ltv-history.html", "LTV history", build_ltv_history_context,
                            charts=_history_charts, files=LtvHistoryContext.files)
STRATEGIES_PAGE = SitePage("strategies.html", "strategies.html", "Strategies", _strategies_context,
                           charts=_strategies_charts, files=order_preview_downloads)
BACKTESTS_PAGE = SitePage("backtests.html", "backtests.html", "Backtests", build_backtests_context,
                          charts=backtests_charts, files=backtests_downloads)
ALERTS_PAGE = SitePage("alerts.html", "alerts.html", "Alerts", build_alerts_context)
DATA_METHOD_PAGE = SitePage("data-method.html", "data-method.html", "Data & method", build_data_method_context)
SITE_PAGES: Final[tuple[SitePage[Any], ...]] = (OVERVIEW_PAGE, CHAIN_PAGE, LTV_HISTORY_PAGE, STRATEGIES_PAGE,
                                                BACKTESTS_PAGE, ALERTS_PAGE, DATA_METHOD_PAGE)


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
    environment.globals.update(site_pages=SITE_PAGES, range_param=RANGE_PARAM)
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


def render_page(page: SitePage[Any], data: DashboardData, templates_dir: Path) -> str:
    """One page as HTML text (its files are not written)."""
    html, _ = _render(page, page.build_context(data), build_site_header(data), template_environment(templates_dir))
    return html


def _render(page: SitePage[ContextT], context: ContextT, header: SiteHeader,
            environment: Environment) -> tuple[str, Mapping[str, bytes]]:
    """The page's HTML, referencing the bundle and the script by relative paths, and its files."""
    html = environment.get_template(page.template).render(
        ctx=context, site=header, page=page, bundle_path=BUNDLE_RELATIVE_PATH, script_path=SCRIPT_RELATIVE_PATH,
        **page.charts(context),
    )
    return html, page.files(context)


def site_files(data: DashboardData, templates_dir: Path) -> dict[str, bytes]:
    """Site-relative path -> bytes of every file but the Vega bundle: the page script, each page's
    files (page data, downloads), then the pages."""
    header = build_site_header(data)
    environment = template_environment(templates_dir)
    files = {SCRIPT_RELATIVE_PATH: (templates_dir / SCRIPT_TEMPLATE).read_bytes()}
    pages = {}
    for page in SITE_PAGES:
        html, page_files = _render(page, page.build_context(data), header, environment)
        files.update(page_files)
        pages[page.file_name] = html.encode("utf-8")
    return files | pages


@dataclass(frozen=True)
class PublishedSite:
    """Where the site went and how large each page is (bytes, inline data included)."""

    root: Path
    page_bytes: dict[str, int]

    @property
    def index(self) -> Path:
        return self.root / OVERVIEW_PAGE.file_name


def publish_site(
    data: DashboardData,
    out_dir: Path,
    templates_dir: Path,
    *,
    bundle_cache_dir: Path = DEFAULT_BUNDLE_CACHE_DIR,
) -> PublishedSite:
    """Write every page, its data and downloads, the page script and `assets/vega-bundle.js` under
    `out_dir`.

    Everything is rendered first and staged in a temporary directory beside `out_dir`; files are
    then moved in with atomic renames, the bundle first, then data, downloads and script, the pages
    last, so a failed render never leaves a half-written site and no page links a file not yet
    there. Files left in the generated folders (downloads, chain data) by an earlier publish that
    this one did not write are removed after the pages are replaced.
    """
    files = site_files(data, templates_dir)
    bundle = vega_bundle(bundle_cache_dir)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.staging-") as staging_name:
        staging = Path(staging_name)
        published_bundle = out_dir / BUNDLE_RELATIVE_PATH
        staged: dict[str, Path] = {}
        if not published_bundle.is_file() or _sha256(published_bundle) != _sha256(bundle):
            staged[BUNDLE_RELATIVE_PATH] = _stage(staging, BUNDLE_RELATIVE_PATH, bundle.read_bytes())
        for relative_path, content in files.items():
            staged[relative_path] = _stage(staging, relative_path, content)

        for relative_path, staged_file in staged.items():  # insertion order: bundle, page files, pages
            target = out_dir / relative_path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged_file, target)
    written = {out_dir / path for path in files}
    for folder in GENERATED_DIRS:
        _remove_unwritten(out_dir / folder, keep=written)
    return PublishedSite(root=out_dir, page_bytes={page.file_name: len(files[page.file_name]) for page in SITE_PAGES})


def _stage(staging: Path, relative_path: str, content: bytes) -> Path:
    staged_file = staging / relative_path
    staged_file.parent.mkdir(parents=True, exist_ok=True)
    staged_file.write_bytes(content)
    return staged_file


def _remove_unwritten(folder: Path, keep: set[Path]) -> None:
    """Delete files an earlier publish left in `folder` that this one did not write."""
    if folder.is_dir():
        for stale in (path for path in folder.iterdir() if path.is_file() and path not in keep):
            stale.unlink()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory and rename over `path`,
    so readers see either the old file or the complete new one. The file gets the permissions a
    plain write would (0666 less the umask), not mkstemp's 0600: a web server or mailer running
    as another user must be able to read a report."""
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as temp_file:
            temp_file.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp_name, 0o666 & ~umask)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
