"""The 18:30 New York schedule on the real NYSE calendar: a holiday tick skips and says which
holiday; the next session's tick (an early-close day) asks for its own partition."""

from datetime import datetime, timezone

import dagster as dg
import pytest

from assets import ingest, options
from assets.resources import MarketDataResource, PortfolioResource, WarehouseResource
from assets.schedules import daily_refresh_schedule


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> dg.RepositoryDefinition:
    """The schedule with the raw and option assets: enough to resolve the job's partitions
    (the resources are never opened: a tick only builds a run request)."""
    root = tmp_path_factory.mktemp("schedule")
    defs = dg.Definitions(
        assets=dg.load_assets_from_modules([ingest, options]), schedules=[daily_refresh_schedule],
        resources={"warehouse": WarehouseResource(path=str(root / "vault.duckdb")),
                   "portfolio": PortfolioResource(path=str(root / "portfolio.toml")),
                   "market": MarketDataResource()})
    return defs.get_repository_def()


def _tick(repository: dg.RepositoryDefinition, at: datetime):  # noqa: ANN202 (dagster-internal type)
    context = dg.build_schedule_context(scheduled_execution_time=at, repository_def=repository)
    return daily_refresh_schedule.evaluate_tick(context)


def test_thanksgiving_tick_skips_with_the_holiday(repository):
    data = _tick(repository, datetime(2026, 11, 26, 23, 30, tzinfo=timezone.utc))  # 18:30 New York
    assert not data.run_requests
    assert data.skip_message == "NYSE closed on Thursday 2026-11-26 (Thanksgiving): no session to refresh"


def test_good_friday_tick_skips(repository):
    data = _tick(repository, datetime(2026, 4, 3, 22, 30, tzinfo=timezone.utc))  # 18:30 EDT
    assert not data.run_requests and "Good Friday" in data.skip_message


def test_day_after_thanksgiving_requests_its_partition(repository):
    data = _tick(repository, datetime(2026, 11, 27, 23, 30, tzinfo=timezone.utc))  # early close 13:00
    assert data.skip_message is None
    assert [request.partition_key for request in data.run_requests] == ["2026-11-27"]
