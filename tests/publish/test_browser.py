"""Every page of the published site in a real headless Chromium with no internet.

Every request that is not to the local test server is blocked and recorded, so a stray CDN
reference fails the test instead of silently working on a connected CI box. Screenshots of every
page, desktop and phone, go to build/test-artifacts/ to look at.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import polars as pl
import pytest

from pipeline.publish.data import DashboardData
from pipeline.publish.site import SITE_PAGES, publish_site

from .test_site import XSS_PROBE, hostile

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PAGE_IDS = [page.file_name for page in SITE_PAGES]

pytestmark = pytest.mark.browser


class QuietHandler(SimpleHTTPRequestHandler):
    """Static file handler that does not log each request to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 at a free port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class OfflinePage:
    """A Chromium tab that may reach only the local test server (and files), recording what went wrong."""

    page: Any
    requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.blocked_requests == []
        assert self.console_errors == [] and self.page_errors == [] and self.dialogs == []

    def open(self, url: str) -> None:
        """Load the page and wait until its charts and the chain table are drawn."""
        self.page.goto(url, wait_until="load")
        for chart_id in self.page.locator("div.chart").evaluate_all("divs => divs.map(div => div.id)"):
            self.page.wait_for_selector(f"#{chart_id} > svg", state="attached", timeout=15_000)
        if self.page.locator("#chain-table").count():
            self.page.wait_for_selector("#chain-table tr.contract-row", state="attached", timeout=15_000)
        self.page.wait_for_load_state("networkidle")


@pytest.fixture(scope="module")
def site_url(published_site: Path) -> Iterator[str]:
    with serve(published_site) as url:
        yield url




@contextmanager
def offline_tab(browser: Any, viewport: dict[str, int] = DESKTOP, **options: Any) -> Iterator[OfflinePage]:
    """A fresh tab whose every request off this machine is blocked and recorded."""
    page = browser.new_page(viewport=viewport, **options)
    tab = OfflinePage(page)

    def only_local(route: Any, request: Any) -> None:
        tab.requests.append(request.url)
        if urlsplit(request.url).hostname == "127.0.0.1" or request.url.startswith(("data:", "file:")):
            route.continue_()
        else:
            tab.blocked_requests.append(request.url)
            route.abort()

    page.route("**/*", only_local)
    page.on("console", lambda message: message.type == "error" and tab.console_errors.append(message.text))
    page.on("pageerror", lambda error: tab.page_errors.append(str(error)))
    page.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    try:
        yield tab
    finally:
        page.close()


def screenshot(tab: OfflinePage, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    tab.page.screenshot(path=str(path), full_page=True)
    return path


def visible_contract_rows(tab: OfflinePage) -> int:
    return tab.page.locator("#chain-table tr.contract-row").count()


def line_points(tab: OfflinePage, chart_id: str) -> list[int]:
    """Vertices of each line the chart draws (a path "M x,y L x,y ..."; a gap starts a new M)."""
    paths = tab.page.locator(f"#{chart_id} svg .mark-line path").evaluate_all("ps => ps.map(p => p.getAttribute('d'))")
    return [len(re.findall(r"[ML]", d)) for d in paths]


@pytest.mark.parametrize("page", SITE_PAGES, ids=PAGE_IDS)
def test_every_page_loads_with_no_error_and_no_request_off_the_machine(
        site_url: str, browser: Any, page) -> None:
    with offline_tab(browser) as tab:
        tab.open(site_url + page.file_name)
        charts = tab.page.locator("div.chart").count()
        marks = [tab.page.locator(f"#{chart_id} > svg .role-mark").count()
                 for chart_id in tab.page.locator("div.chart").evaluate_all("divs => divs.map(d => d.id)")]
        current = tab.page.locator('nav a[aria-current="page"]').all_text_contents()
        shot = screenshot(tab, f"{page.file_name.removesuffix('.html')}-desktop.png")

        tab.assert_clean()
    assert current == [page.title]
    assert all(count >= 2 for count in marks), marks
    assert (charts > 0) == page.has_charts
    assert shot.stat().st_size > 10_000
    assert all(url.startswith(site_url) or url.startswith("data:") for url in tab.requests)


@pytest.mark.parametrize("page", SITE_PAGES, ids=PAGE_IDS)
def test_every_page_reads_on_a_phone(site_url: str, browser: Any, page) -> None:
    """Wide tables scroll inside their box; the page itself never scrolls sideways."""
    with offline_tab(browser, PHONE, is_mobile=True) as tab:
        tab.open(site_url + page.file_name)
        page_width = tab.page.evaluate("document.documentElement.scrollWidth")
        tables_fit_or_scroll = tab.page.locator("table").evaluate_all(
            "tables => tables.map(t => t.parentElement.classList.contains('table-scroll') "
            "&& t.parentElement.clientWidth <= 390)")
        shot = screenshot(tab, f"{page.file_name.removesuffix('.html')}-phone.png")

        tab.assert_clean()
    assert page_width <= PHONE["width"]
    assert all(tables_fit_or_scroll)
    assert shot.stat().st_size > 5_000


def expected_rows(chain: pl.DataFrame, max_days: int | None, right: str, band: float | None) -> int:
    """Contracts the chain page should list: expiries within `max_days` (None: the first only), the
    right ("all", "C" or "P"), strike within `band` of spot (None: any)."""
    rows = chain
    if max_days is None:
        rows = rows.filter(pl.col("expiry") == pl.col("expiry").min())
    else:
        rows = rows.filter(pl.col("days_to_expiry") <= max_days)
    if right != "all":
        rows = rows.filter(pl.col("option_right") == right)
    if band is not None:
        rows = rows.filter((pl.col("moneyness").round(4) - 1).abs() <= band + 1e-9)
    return rows.height


def test_expiry_filter_loads_expiries_on_demand_and_changes_the_rows_shown(
        site_url: str, browser: Any, chain_frame: pl.DataFrame) -> None:
    within_30 = chain_frame.filter(pl.col("days_to_expiry") <= 30)["expiry"].unique().sort()
    with offline_tab(browser) as tab:
        tab.open(site_url + "chain.html")
        first = visible_contract_rows(tab)
        fetched_at_load = [url for url in tab.requests if "/data/chain/" in url]

        tab.page.get_by_role("button", name="30 days").click()
        tab.page.wait_for_function("document.getElementById('chain-status').textContent.includes("
                                   f"'in {within_30.len()} expiries')")
        thirty = visible_contract_rows(tab)
        fetched = sorted(url.rsplit("/", 1)[1] for url in tab.requests if "/data/chain/" in url)

        tab.page.get_by_label("Type").select_option("P")
        puts = visible_contract_rows(tab)
        tab.page.get_by_label("Strikes").select_option("all")
        all_puts = visible_contract_rows(tab)
        tab.page.get_by_role("button", name="Next expiry").click()
        back_to_first = visible_contract_rows(tab)
        status = tab.page.locator("#chain-status").text_content()
        sources = set(tab.page.locator("#chain-table tr.contract-row td:nth-child(2)").all_text_contents())

        tab.assert_clean()
    assert fetched_at_load == []  # the first expiry is inline
    assert fetched == [f"{day.isoformat()}.json" for day in within_30[1:]]  # the others came on demand
    assert first == expected_rows(chain_frame, None, "all", 0.1)
    assert thirty == expected_rows(chain_frame, 30, "all", 0.1) > first
    assert puts == expected_rows(chain_frame, 30, "P", 0.1) < thirty
    assert all_puts == expected_rows(chain_frame, 30, "P", None) > puts
    assert back_to_first == expected_rows(chain_frame, None, "P", None)
    assert status == f"Showing {back_to_first} contracts in 1 expiry."
    assert sources == {"model"}


def test_ltv_range_buttons_change_the_days_drawn(site_url: str, browser: Any, ltv_frame: pl.DataFrame) -> None:
    def trading_days(days: int) -> int:
        return ltv_frame.filter((date(2026, 10, 6) - pl.col("date")).dt.total_days() < days).height

    with offline_tab(browser) as tab:
        tab.open(site_url + "ltv-history.html")
        drawn, summaries, gld_drawn = {}, {}, {}
        for label in ("7 days", "30 days", "90 days", "All"):
            button = tab.page.get_by_role("button", name=label, exact=True)
            days = int(button.get_attribute("data-range-days"))
            button.click()
            tab.page.wait_for_function(  # the LTV line redrawn with that many vertices
                "n => document.querySelector('#ltv-chart svg .mark-line path').getAttribute('d')"
                ".match(/[ML]/g).length === n", arg=trading_days(days))
            drawn[label] = line_points(tab, "ltv-chart")
            gld_drawn[label] = line_points(tab, "margin-chart")[0]
            summaries[label] = tab.page.locator("#range-summary").text_content()
        pressed = tab.page.locator("[data-range-buttons] button[aria-pressed='true']").all_text_contents()

        tab.assert_clean()
    assert drawn["7 days"] == [trading_days(7)] * 2  # LTV and LTV with hedges
    assert drawn["30 days"] == [trading_days(30)] * 2
    assert drawn["90 days"] == [trading_days(90)] * 2
    assert drawn["All"] == [ltv_frame.height] * 2
    assert gld_drawn == {label: points[0] for label, points in drawn.items()}  # the margin-call chart follows
    assert summaries["7 days"].startswith("Last 7 days (") and f"{trading_days(7)} trading days" in summaries["7 days"]
    assert pressed == ["All"]


def test_chain_page_opened_from_disk_says_how_to_serve_the_folder(published_site: Path, browser: Any) -> None:
    with offline_tab(browser) as tab:
        tab.open((published_site / "chain.html").as_uri())
        first = visible_contract_rows(tab)
        tab.page.get_by_role("button", name="60 days").click()
        hint = tab.page.locator("#chain-serve-hint")
        hint.wait_for(state="visible", timeout=10_000)
        text = " ".join(hint.text_content().split())
        status = tab.page.locator("#chain-status").text_content()
        still_shown = visible_contract_rows(tab)

    assert tab.blocked_requests == []
    assert "make serve" in text and f"python3 -m http.server -d {published_site}" in text
    assert still_shown == first > 0  # the inline expiry stays
    assert "could not be loaded" in status


def test_hostile_names_stay_text_in_the_browser(dashboard_data: DashboardData, templates_dir: Path,
                                                bundle_cache_dir: Path, browser: Any, tmp_path: Path) -> None:
    site = tmp_path / "hostile"
    publish_site(hostile(dashboard_data), site, templates_dir, bundle_cache_dir=bundle_cache_dir)
    with serve(site) as url, offline_tab(browser) as tab:
        shown = {}
        for page in SITE_PAGES:
            tab.open(url + page.file_name)
            shown[page.file_name] = tab.page.locator("body").inner_text().count(XSS_PROBE)
            assert tab.page.locator("img").count() == 0, page.file_name
        tab.open(url + "chain.html")
        contracts = tab.page.locator("#chain-table tr.contract-row th").all_text_contents()

        tab.assert_clean()
    assert all(count >= 1 for count in shown.values()), shown  # the masthead on every page
    assert shown["index.html"] >= 3 and shown["alerts.html"] >= 4  # + hedge and alerts; + subjects and messages
    assert XSS_PROBE in contracts


def test_strategies_page_is_reached_from_the_nav(site_url: str, browser: Any) -> None:
    with offline_tab(browser) as tab:
        tab.open(site_url + "index.html")
        tab.page.get_by_role("navigation").get_by_role("link", name="Strategies").click()
        tab.page.wait_for_url(site_url + "strategies.html")
        tab.open(site_url + "strategies.html")
        chart_ids = tab.page.locator("div.chart").evaluate_all("divs => divs.map(div => div.id)")
        heat_labels = tab.page.locator("#hedged-ltv-chart svg .role-axis-label text").all_text_contents()

        tab.assert_clean()
    assert chart_ids == ["hedged-ltv-chart", "payoff-chart-1", "payoff-chart-2", "payoff-chart-3", "cost-index-chart"]
    assert "Collar 95 / 110 % (3 m)" in heat_labels and "\u221250%" in heat_labels  # d3 writes a true minus


def test_wide_strategy_comparison_scrolls_inside_its_box_on_a_phone(site_url: str, browser: Any) -> None:
    with offline_tab(browser, PHONE, is_mobile=True) as tab:
        tab.open(site_url + "strategies.html")
        compare_scrolls = tab.page.locator("#comparison .table-scroll").evaluate(
            "box => box.scrollWidth > box.clientWidth")

    assert compare_scrolls
