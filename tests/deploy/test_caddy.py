"""The site as users get it: the real Caddy running deploy/Caddyfile in front of a real published site.

Caddy listens on loopback at a free port, with its config and data folders in a temp directory;
the site comes from a full pipeline run on the embedded data. Basic auth, headers and MIME types are
checked over plain HTTP, then every page is opened in headless Debian Chromium through Caddy: under
the Content-Security-Policy the charts must draw with no console error and no request leaving the host.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import PORTFOLIO_2026, Sandbox

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CADDYFILE = PROJECT_ROOT / "deploy" / "Caddyfile"
CADDYFILE_NOAUTH = PROJECT_ROOT / "deploy" / "Caddyfile.noauth"
CADDY = shutil.which("caddy")
USER = "vault"
PASSWORD = "gold under the mattress"
# What file_server must label each download with: nosniff makes the browser take it at its word.
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".json": "application/json", ".csv": "text/csv; charset=utf-8"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CADDY is None, reason="the caddy binary is not installed (apt-get install caddy; "
                                             "`make test` installs it through TEST_DEBS)"),
]


@pytest.fixture(scope="module")
def published_site(tmp_path_factory: pytest.TempPathFactory, materialize_all: Callable[..., Any]) -> Path:
    """The site folder of one full pipeline run on the embedded data."""
    box = Sandbox.at(tmp_path_factory.mktemp("pipeline"))
    box.write_portfolio(PORTFOLIO_2026)
    with pytest.MonkeyPatch.context() as patch:
        box.export(patch)
        assert materialize_all(box.resources()).success
    assert (box.site_dir / "index.html").is_file()
    return box.site_dir


@pytest.fixture(scope="module")
def caddy_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HOME and XDG folders for every caddy process here, so Caddy writes nothing outside the temp dir."""
    home = tmp_path_factory.mktemp("caddy-home")
    for folder in ("home", "config", "data"):
        (home / folder).mkdir()
    return home


def caddy_env(home: Path, settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without any VAULT_* of the developer's, plus `settings`."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("VAULT_")}
    return inherited | {"HOME": str(home / "home"), "XDG_CONFIG_HOME": str(home / "config"),
                        "XDG_DATA_HOME": str(home / "data")} | settings


@pytest.fixture(scope="module")
def password_hash(caddy_home: Path) -> str:
    """The bcrypt hash a user puts in VAULT_BASIC_AUTH_HASH, made the documented way."""
    result = subprocess.run([CADDY, "hash-password", "--plaintext", PASSWORD], env=caddy_env(caddy_home, {}),
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_listening(port: int, process: subprocess.Popen, log: Path, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"caddy exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"caddy did not listen on 127.0.0.1:{port} within {seconds:.0f} s:\n{log.read_text()}")


@contextmanager
def running_caddy(caddyfile: Path, home: Path, settings: dict[str, str]) -> Iterator[str]:
    """`caddy run` on `caddyfile` at a free loopback port; yields the base URL and always stops Caddy."""
    port = free_port()
    env = caddy_env(home, settings | {"VAULT_LISTEN": f"127.0.0.1:{port}", "VAULT_BIND": "127.0.0.1"})
    log = home / f"{caddyfile.name}-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen([CADDY, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
                                   env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, process, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def site_url(published_site: Path, caddy_home: Path, password_hash: str) -> Iterator[str]:
    """deploy/Caddyfile serving the published site behind basic auth."""
    with running_caddy(CADDYFILE, caddy_home, {"VAULT_SITE_DIR": str(published_site),
                                               "VAULT_BASIC_AUTH_USER": USER,
                                               "VAULT_BASIC_AUTH_HASH": password_hash}) as url:
        yield url


@pytest.fixture(scope="module")
def open_site_url(published_site: Path, caddy_home: Path) -> Iterator[str]:
    """deploy/Caddyfile.noauth serving the same site without auth."""
    with running_caddy(CADDYFILE_NOAUTH, caddy_home, {"VAULT_SITE_DIR": str(published_site)}) as url:
        yield url


# Straight to Caddy, whatever proxy the environment names.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str, credentials: tuple[str, str] | None = None) -> tuple[int, Message]:
    """Status and headers of a GET, sending basic-auth `credentials` if given."""
    request = urllib.request.Request(url)
    if credentials:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with _direct.open(request, timeout=15) as response:
            response.read()
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def assert_security_headers(headers: Message) -> None:
    csp = headers["Content-Security-Policy"]
    assert csp and "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
    assert "unsafe-eval" not in csp, csp  # charts are interpreted ({ast: true}), never eval'd
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Server"] is None


def test_without_credentials_caddy_asks_for_basic_auth(site_url: str) -> None:
    status, headers = fetch(site_url + "index.html")

    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic realm=")


def test_a_wrong_password_is_refused(site_url: str) -> None:
    assert fetch(site_url + "index.html", (USER, PASSWORD + "!"))[0] == 401
    assert fetch(site_url + "index.html", ("someone-else", PASSWORD))[0] == 401


def test_the_right_credentials_get_the_page_with_its_security_headers(site_url: str) -> None:
    status, headers = fetch(site_url + "index.html", (USER, PASSWORD))

    assert status == 200
    assert_security_headers(headers)


def test_every_download_and_script_has_its_content_type(site_url: str, published_site: Path) -> None:
    names = [path.relative_to(published_site).as_posix() for path in sorted(published_site.rglob("*"))
             if path.suffix in CONTENT_TYPES]
    served = {}
    for name in names:
        status, headers = fetch(site_url + name, (USER, PASSWORD))
        served[name] = (status, headers["Content-Type"])

    assert {Path(name).suffix for name in names} >= {".html", ".js", ".csv"}
    assert served == {name: (200, CONTENT_TYPES[Path(name).suffix]) for name in names}


def test_the_auth_caddyfile_refuses_to_start_without_the_credentials(caddy_home: Path, published_site: Path) -> None:
    """An unset user or hash must stop Caddy, not serve the site to anyone on the VPN."""
    for settings in ({}, {"VAULT_BASIC_AUTH_USER": USER}):
        result = subprocess.run([CADDY, "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
                                env=caddy_env(caddy_home, {"VAULT_SITE_DIR": str(published_site)} | settings),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode != 0
        assert "username and password cannot be empty" in result.stderr


def test_the_noauth_caddyfile_serves_the_same_site_openly(open_site_url: str) -> None:
    status, headers = fetch(open_site_url + "index.html")

    assert status == 200
    assert_security_headers(headers)




# Chart containers without the SVG vega-embed draws, with marks in it (the <noscript> fallback SVG
# is not part of the DOM when scripts run, so it cannot pass for a drawn chart).
UNDRAWN_CHARTS = """[...document.querySelectorAll('div.chart')]
                    .filter(chart => !chart.querySelector(':scope > svg .role-mark')).length"""


def page_problems(context: Any, url: str) -> dict[str, object]:
    """What opening `url` in a fresh tab showed: console and page errors, charts, charts not drawn."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(url, wait_until="load")
        try:
            page.wait_for_function(f"() => {UNDRAWN_CHARTS} === 0", timeout=20_000)
        except PlaywrightTimeout:
            pass  # counted below and reported with the page's errors, which say why
        return {"errors": errors, "charts": page.locator("div.chart").count(),
                "undrawn": page.evaluate(f"() => {UNDRAWN_CHARTS}")}
    finally:
        page.close()


@pytest.mark.browser
def test_every_page_draws_its_charts_through_caddy_under_the_csp(site_url: str, published_site: Path,
                                                                 browser: Any) -> None:
    pages = [path.relative_to(published_site).as_posix() for path in sorted(published_site.rglob("*.html"))]
    context = browser.new_context(http_credentials={"username": USER, "password": PASSWORD},
                                  viewport={"width": 1100, "height": 1200})
    blocked: list[str] = []

    def only_local(route: Any, request: Any) -> None:
        if urlsplit(request.url).hostname == "127.0.0.1" or request.url.startswith("data:"):
            route.continue_()
        else:
            blocked.append(request.url)
            route.abort()

    context.route("**/*", only_local)
    try:
        problems = {name: page_problems(context, site_url + name) for name in pages}
    finally:
        context.close()

    assert "index.html" in pages and "strategies.html" in pages
    assert blocked == []
    assert {name: (found["errors"], found["undrawn"]) for name, found in problems.items()} == {
        name: ([], 0) for name in pages}
    assert sum(found["charts"] for found in problems.values()) >= 2  # the overview and strategies charts
