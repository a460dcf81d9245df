"""Shared fixtures: a throwaway warehouse, output folders and portfolio file per test."""

from __future__ import annotations

import os
import shutil
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

    @property
    def audit_dir(self) -> Path:
        return self.root / "audit"

    def write_portfolio(self, text: str) -> Path:
        self.portfolio.write_text(text)
        return self.portfolio

    @classmethod
    def at(cls, root: Path) -> "Sandbox":
        """The sandbox layout under `root` (files are not created)."""
        return cls(root=root, warehouse=root / "warehouse" / "vault.duckdb", site_dir=root / "site",
                   reports_dir=root / "reports", portfolio=root / "portfolio.toml")

    def copy_to(self, root: Path) -> "Sandbox":
        """The same files (warehouse, outputs, portfolio) copied under `root`: a finished run
        that a test may change without touching the original."""
        shutil.copytree(self.root, root, dirs_exist_ok=True)
        return Sandbox.at(root)

    def export(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point the VAULT_* variables here and switch live mode and email off."""
        monkeypatch.setenv("VAULT_WAREHOUSE", str(self.warehouse))
        monkeypatch.setenv("VAULT_SITE_DIR", str(self.site_dir))
        monkeypatch.setenv("VAULT_REPORTS_DIR", str(self.reports_dir))
        monkeypatch.setenv("VAULT_AUDIT_DIR", str(self.audit_dir))
        monkeypatch.setenv("VAULT_PORTFOLIO", str(self.portfolio))
        monkeypatch.delenv("VAULT_LIVE", raising=False)
        for variable in [v for v in os.environ if v.startswith("VAULT_SMTP_")]:
            monkeypatch.delenv(variable)

    def resources(self, *, live: bool = False, deadline_seconds: float = 20.0) -> dict[str, object]:
        from assets.resources import (BacktestResultsIOManager, MarketDataResource, OutputsResource,
                                      PortfolioResource, WarehouseResource)

        return {
            "warehouse": WarehouseResource(path=str(self.warehouse)),
            "portfolio": PortfolioResource(path=str(self.portfolio)),
            "market": MarketDataResource(live=live, deadline_seconds=deadline_seconds),
            "outputs": OutputsResource(site_dir=str(self.site_dir), reports_dir=str(self.reports_dir),
                                       audit_dir=str(self.audit_dir)),
            "backtest_results_io_manager": BacktestResultsIOManager(base_dir=str(self.root / "backtest")),
        }


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """Temp warehouse/site/reports/portfolio, also exported as the VAULT_* variables."""
    box = Sandbox.at(tmp_path)
    box.write_portfolio(PORTFOLIO_2026)
    box.export(monkeypatch)
    return box


@pytest.fixture(scope="session")
def materialize_all() -> Callable[..., object]:
    """Materialize every asset and check of the code location in-process."""
    import dagster as dg

    def run(resources: dict[str, object], raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
        from assets.definitions import ALL_ASSETS, ALL_CHECKS

        return dg.materialize([*ALL_ASSETS, *ALL_CHECKS], resources=resources,
                              raise_on_error=raise_on_error)

    return run


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201  (a playwright Browser; playwright is imported only when needed)
    """The system Chromium (Debian's, never a downloaded browser), headless, for the page tests."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (system Chromium is required; browsers are never downloaded)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
