"""Shared fixtures: a throwaway warehouse, output folders and portfolio file per test."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

# Numba's on-disk cache must be writable; keep it inside the project, shared across tests.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache"))

PORTFOLIO_2026 = """\
name = "Test loan 2026"
start_date = 2026-01-02

[collateral]
symbol = "GLD"
shares = 1000

[loan]
amount = 265000.0
margin_call_ltv = 0.75
"""


@dataclass
class Sandbox:
    """Where one test's pipeline reads and writes."""

    root: Path
    warehouse: Path
    site_dir: Path
    reports_dir: Path
    portfolio: Path

    def write_portfolio(self, text: str) -> Path:
        self.portfolio.write_text(text)
        return self.portfolio

    def resources(self, *, live: bool = False, deadline_seconds: float = 20.0) -> dict[str, object]:
        from assets.resources import (MarketDataResource, OutputsResource, PortfolioResource,
                                      WarehouseResource)

        return {
            "warehouse": WarehouseResource(path=str(self.warehouse)),
            "portfolio": PortfolioResource(path=str(self.portfolio)),
            "market": MarketDataResource(live=live, deadline_seconds=deadline_seconds),
            "outputs": OutputsResource(site_dir=str(self.site_dir), reports_dir=str(self.reports_dir)),
        }


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """Temp warehouse/site/reports/portfolio, also exported as the VAULT_* variables."""
    box = Sandbox(
        root=tmp_path,
        warehouse=tmp_path / "warehouse" / "vault.duckdb",
        site_dir=tmp_path / "site",
        reports_dir=tmp_path / "reports",
        portfolio=tmp_path / "portfolio.toml",
    )
    box.write_portfolio(PORTFOLIO_2026)
    monkeypatch.setenv("VAULT_WAREHOUSE", str(box.warehouse))
    monkeypatch.setenv("VAULT_SITE_DIR", str(box.site_dir))
    monkeypatch.setenv("VAULT_REPORTS_DIR", str(box.reports_dir))
    monkeypatch.setenv("VAULT_PORTFOLIO", str(box.portfolio))
    monkeypatch.delenv("VAULT_LIVE", raising=False)
    for variable in [v for v in os.environ if v.startswith("VAULT_SMTP_")]:
        monkeypatch.delenv(variable)
    return box


@pytest.fixture
def materialize_all() -> Callable[..., object]:
    """Materialize every asset and check of the code location in-process."""
    import dagster as dg

    def run(resources: dict[str, object], raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
        from assets.definitions import ALL_ASSETS, ALL_CHECKS

        return dg.materialize([*ALL_ASSETS, *ALL_CHECKS], resources=resources,
                              raise_on_error=raise_on_error)

    return run
