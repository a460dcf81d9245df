"""The published site renders its chart in a real headless Chromium with no internet.

Every request that is not to the local test server is blocked and recorded, so a
stray CDN reference fails the test instead of silently working on a connected CI box.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
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


@pytest.fixture(scope="module")
def site_url(published_site: Path) -> Iterator[str]:
    """Serve the published site on 127.0.0.1 at a free port for the module."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(published_site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_chart_renders_offline_without_external_requests(site_url: str, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (system Chromium is required; browsers are never downloaded)")
    sync_api = pytest.importorskip("playwright.sync_api")

    blocked_requests: list[str] = []
    console_errors: list[str] = []
    page_errors: list[str] = []

    def only_local(route: object, request: object) -> None:
        if urlsplit(request.url).hostname == "127.0.0.1" or request.url.startswith("data:"):
            route.continue_()
        else:
            blocked_requests.append(request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1200})
            page.route("**/*", only_local)
            page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
            page.on("pageerror", lambda error: page_errors.append(str(error)))

            page.goto(site_url, wait_until="load")
            page.wait_for_selector("#ltv-chart svg .mark-line path", timeout=15_000)
            line_paths = page.locator("#ltv-chart svg .mark-line path").count()
            rule_lines = page.locator("#ltv-chart svg .mark-rule line").count()
            axis_labels = page.locator("#ltv-chart svg .role-axis-label text").all_text_contents()

            screenshot = Path(os.environ.get("VAULT_SCREENSHOT_DIR", tmp_path)) / "dashboard.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()

    assert blocked_requests == []
    assert console_errors == [] and page_errors == []
    assert line_paths >= 1 and rule_lines >= 1
    assert "80%" in axis_labels and "Jan 2026" in axis_labels
    assert screenshot.stat().st_size > 10_000
