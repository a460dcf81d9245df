"""The published site renders its charts in a real headless Chromium with no internet.

Every request that is not to the local test server is blocked and recorded, so a
stray CDN reference fails the test instead of silently working on a connected CI box.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


class QuietHandler(SimpleHTTPRequestHandler):
    """Static file handler that does not log each request to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class OfflinePage:
    """A Chromium tab that may reach only the local test server, recording what went wrong."""

    page: Any
    blocked_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.blocked_requests == []
        assert self.console_errors == [] and self.page_errors == []


@pytest.fixture(scope="module")
def site_url(published_site: Path) -> Iterator[str]:
    """Serve the published site on 127.0.0.1 at a free port for the module; the site's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(published_site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The system Chromium (never a downloaded browser), headless."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (system Chromium is required; browsers are never downloaded)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def offline_page(browser: Any) -> Iterator[OfflinePage]:
    """A fresh tab whose every non-local request is blocked and recorded."""
    page = browser.new_page(viewport={"width": 1100, "height": 1200})
    tab = OfflinePage(page)

    def only_local(route: Any, request: Any) -> None:
        if urlsplit(request.url).hostname == "127.0.0.1" or request.url.startswith("data:"):
            route.continue_()
        else:
            tab.blocked_requests.append(request.url)
            route.abort()

    page.route("**/*", only_local)
    page.on("console", lambda message: message.type == "error" and tab.console_errors.append(message.text))
    page.on("pageerror", lambda error: tab.page_errors.append(str(error)))
    try:
        yield tab
    finally:
        page.close()


def screenshot_path(tmp_path: Path, name: str) -> Path:
    return Path(os.environ.get("VAULT_SCREENSHOT_DIR", tmp_path)) / name


def test_chart_renders_offline_without_external_requests(site_url: str, offline_page: OfflinePage,
                                                         tmp_path: Path) -> None:
    page = offline_page.page
    page.goto(site_url + "index.html", wait_until="load")
    page.wait_for_selector("#ltv-chart svg .mark-line path", timeout=15_000)
    line_paths = page.locator("#ltv-chart svg .mark-line path").count()
    rule_lines = page.locator("#ltv-chart svg .mark-rule line").count()
    axis_labels = page.locator("#ltv-chart svg .role-axis-label text").all_text_contents()
    screenshot = screenshot_path(tmp_path, "dashboard.png")
    page.screenshot(path=str(screenshot), full_page=True)

    offline_page.assert_clean()
    assert line_paths >= 1 and rule_lines >= 1
    assert "80%" in axis_labels and "Jan 2026" in axis_labels
    assert screenshot.stat().st_size > 10_000


def test_strategies_page_is_reached_from_the_nav_and_draws_every_chart(
    site_url: str, offline_page: OfflinePage, tmp_path: Path
) -> None:
    page = offline_page.page
    page.goto(site_url + "index.html", wait_until="load")
    page.get_by_role("navigation").get_by_role("link", name="Strategies").click()
    page.wait_for_url(site_url + "strategies.html")
    page.wait_for_load_state("load")
    chart_ids = page.locator("div.chart").evaluate_all("divs => divs.map(div => div.id)")
    for chart_id in chart_ids:
        page.wait_for_selector(f"#{chart_id} > svg", state="attached", timeout=15_000)
    marks_per_chart = [page.locator(f"#{chart_id} > svg .role-mark").count() for chart_id in chart_ids]
    current = page.locator('nav a[aria-current="page"]').all_text_contents()
    heat_labels = page.locator("#hedged-ltv-chart svg .role-axis-label text").all_text_contents()
    screenshot = screenshot_path(tmp_path, "strategies.png")
    page.screenshot(path=str(screenshot), full_page=True)

    offline_page.assert_clean()
    assert chart_ids == ["hedged-ltv-chart", "payoff-chart-1", "payoff-chart-2", "payoff-chart-3", "cost-index-chart"]
    assert all(marks >= 2 for marks in marks_per_chart), marks_per_chart
    assert current == ["Strategies"]
    assert "Collar 95 / 110 % (3 m)" in heat_labels and "\u221250%" in heat_labels  # d3 writes a true minus
    assert screenshot.stat().st_size > 10_000


def test_strategies_page_reads_on_a_phone(site_url: str, browser: Any) -> None:
    """Wide tables scroll inside their box; the page itself never scrolls sideways."""
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page.goto(site_url + "strategies.html", wait_until="load")
        page_width = page.evaluate("document.documentElement.scrollWidth")
        compare_scrolls = page.locator("#comparison .table-scroll").evaluate("box => box.scrollWidth > box.clientWidth")
    finally:
        page.close()

    assert page_width <= 390
    assert compare_scrolls
