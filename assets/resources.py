"""Dagster resources: where the warehouse, portfolio and outputs are, and how to fetch data.

Defaults come from the environment (`VAULT_*`, see pipeline/paths.py) when the definitions load.
"""


from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
from pydantic import PrivateAttr

from pipeline import config, paths, warehouse
from pipeline.backtest.runs import EventResult

# Steps that open the DuckDB file carry this tag; the executor runs one of them at a time
# (DuckDB allows a single writer per file) and the run queue admits one such run at a time.
WAREHOUSE_TAG = {"vault/warehouse": "duckdb"}


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file; rows written through it carry the run's id (pipeline.warehouse)."""

    path: str
    _run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._run_id = context.run_id

    @contextmanager
    def open(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.open_warehouse(Path(self.path), read_only=read_only, run_id=self._run_id) as conn:
            yield conn


class PortfolioResource(dg.ConfigurableResource):
    """The portfolio file, validated when a step starts: a bad file stops the step before it writes."""

    path: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.load()

    def load(self) -> config.Portfolio:
        return config.load_portfolio(self.path)


class MarketDataResource(dg.ConfigurableResource):
    """Live yfinance (off by default) and its hard per-request deadline."""

    live: bool = False
    deadline_seconds: float = 20.0

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class OutputsResource(dg.ConfigurableResource):
    """Where the static site, the PDF reports and the audit exports are published."""

    site_dir: str
    reports_dir: str
    audit_dir: str


class BacktestResultsIOManager(dg.ConfigurableIOManager):
    """EventResult per partition as two Parquet files under `base_dir/<partition>/`.

    Handles a run over many partitions at once (the single-run backfill `make run` uses) as well as
    one partition per run (a multi-run backfill from the UI).
    """

    base_dir: str

    def _folder(self, partition: str) -> Path:
        return Path(self.base_dir) / partition

    def handle_output(self, context: dg.OutputContext, obj: dict[str, EventResult]) -> None:
        for partition, result in obj.items():
            folder = self._folder(partition)
            folder.mkdir(parents=True, exist_ok=True)
            for name, frame in (("runs", result.runs), ("paths", result.paths)):
                staging = folder / f".{name}.parquet.tmp"
                frame.write_parquet(staging)
                staging.replace(folder / f"{name}.parquet")

    def load_input(self, context: dg.InputContext) -> dict[str, EventResult]:
        found = {}
        for partition in context.asset_partition_keys:
            folder = self._folder(partition)
            if (folder / "runs.parquet").exists():
                found[partition] = EventResult(pl.read_parquet(folder / "runs.parquet"),
                                               pl.read_parquet(folder / "paths.parquet"))
        return found


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources configured from the environment at definition-load time."""
    return {
        "warehouse": WarehouseResource(path=str(warehouse.warehouse_path())),
        "portfolio": PortfolioResource(path=str(paths.portfolio_path())),
        "market": MarketDataResource(live=paths.live_mode()),
        "outputs": OutputsResource(site_dir=str(paths.site_dir()), reports_dir=str(paths.reports_dir()),
                                   audit_dir=str(paths.audit_dir())),
        "backtest_results_io_manager": BacktestResultsIOManager(base_dir=str(paths.backtest_results_dir())),
    }
