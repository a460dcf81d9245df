"""The site of a real pipeline run: every asset and check materialized into a temp warehouse with the
example portfolio (two held puts), then the published files compared with the warehouse and every
page opened in Chromium."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline import warehouse
from pipeline.publish.site import SITE_PAGES
from tests.conftest import Sandbox

from .test_browser import offline_tab, serve

EXAMPLE_PORTFOLIO = Path(__file__).resolve().parents[2] / "portfolio.toml"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory, materialize_all: Callable[..., Any]) -> Sandbox:
    """One full run on the embedded data, the way the schedule runs it."""
    box = Sandbox.at(tmp_path_factory.mktemp("pipeline"))
    box.write_portfolio(EXAMPLE_PORTFOLIO.read_text())
    with pytest.MonkeyPatch.context() as patch:
        box.export(patch)
        assert materialize_all(box.resources()).success
    return box


@pytest.fixture(scope="module")
def tables(pipeline_run: Sandbox) -> dict[str, pl.DataFrame]:
    with warehouse.open_warehouse(pipeline_run.warehouse, read_only=True) as conn:
        return {name: conn.sql(f"SELECT * FROM {table}").pl() for name, table in (
            ("ltv_daily", "analytics.ltv_daily ORDER BY date"),
            ("positions_daily", "analytics.positions_daily ORDER BY date, position_id"),
            ("chain", "analytics.chain_latest ORDER BY expiry, option_right, strike"),
            ("alerts", "analytics.alerts"))}


@pytest.fixture(scope="module")
def site_url(pipeline_run: Sandbox) -> Iterator[str]:
    with serve(pipeline_run.site_dir) as url:
        yield url


@pytest.mark.parametrize("name", ["ltv_daily", "positions_daily"])
def test_csv_downloads_match_the_warehouse(pipeline_run: Sandbox, tables: dict[str, pl.DataFrame], name: str) -> None:
    expected = tables[name]
    written = pl.read_csv(pipeline_run.site_dir / "downloads" / f"{name}.csv", schema=expected.schema)

    assert expected.height > 0
    assert_frame_equal(written, expected)


def test_chain_files_hold_every_contract_of_the_latest_snapshot(pipeline_run: Sandbox,
                                                                tables: dict[str, pl.DataFrame]) -> None:
    chain = tables["chain"]
    published = {}
    for path in sorted((pipeline_run.site_dir / "data" / "chain").iterdir()):
        published[path.stem] = [row["cells"][0] for row in json.loads(path.read_text())["rows"]]

    assert list(published) == [day.isoformat() for day in chain["expiry"].unique().sort()]
    assert [contract for contracts in published.values() for contract in contracts] == chain["contract"].to_list()


def test_pages_show_this_runs_checks_and_alerts(pipeline_run: Sandbox, tables: dict[str, pl.DataFrame]) -> None:
    data_method = (pipeline_run.site_dir / "data-method.html").read_text()
    alerts = (pipeline_run.site_dir / "alerts.html").read_text()
    overview = (pipeline_run.site_dir / "index.html").read_text()
    episodes = tables["alerts"].filter(pl.col("event") == "enter")

    assert "12 of 12 passed" in data_method
    assert data_method.count('<span class="badge check-passed">passed</span>') == 12
    assert episodes.height >= 1
    assert alerts.count('class="alert-name"') == episodes.height
    for rule in episodes["rule"]:
        assert rule in overview.split('id="open-alerts"', 1)[1].split("</section>", 1)[0]
    assert '<span class="badge triage-roll">ROLL</span>' in overview  # the October put, 10 days left


def test_every_page_of_the_run_loads_in_the_browser(site_url: str, browser: Any) -> None:
    with offline_tab(browser) as tab:
        for page in SITE_PAGES:
            tab.open(site_url + page.file_name)
        tab.assert_clean()
