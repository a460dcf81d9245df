"""Dagster resources: where the warehouse, portfolio and outputs are, and how to fetch data.

Defaults come from the environment (`VAULT_*`, see pipeline/paths.py) when the definitions load.
"""


from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from pipeline import config, paths, warehouse

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


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources configured from the environment at definition-load time."""
    return {
        "warehouse": WarehouseResource(path=str(warehouse.warehouse_path())),
        "portfolio": PortfolioResource(path=str(paths.portfolio_path())),
        "market": MarketDataResource(live=paths.live_mode()),
        "outputs": OutputsResource(site_dir=str(paths.site_dir()), reports_dir=str(paths.reports_dir()),
                                   audit_dir=str(paths.audit_dir())),
    }
