"""Project locations and their environment overrides, in one place."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_DATA_DIR = PROJECT_ROOT / "data" / "embedded"
TEMPLATES_DIR = PROJECT_ROOT / "site_templates"


def _env_path(variable: str, default: Path) -> Path:
    return Path(os.environ.get(variable) or default).expanduser()


def site_dir() -> Path:
    """Static site output: `VAULT_SITE_DIR`, default `build/site`."""
    return _env_path("VAULT_SITE_DIR", PROJECT_ROOT / "build" / "site")


def reports_dir() -> Path:
    """PDF reports output: `VAULT_REPORTS_DIR`, default `build/reports`."""
    return _env_path("VAULT_REPORTS_DIR", PROJECT_ROOT / "build" / "reports")


def audit_dir() -> Path:
    """Audit exports (Parquet + manifest per run day): `VAULT_AUDIT_DIR`, default `build/audit`."""
    return _env_path("VAULT_AUDIT_DIR", PROJECT_ROOT / "build" / "audit")


def backtest_results_dir() -> Path:
    """Per-event backtest results between Dagster steps (Parquet): `VAULT_BACKTEST_DIR`, default `build/backtest`."""
    return _env_path("VAULT_BACKTEST_DIR", PROJECT_ROOT / "build" / "backtest")


def portfolio_path() -> Path:
    """Portfolio configuration: `VAULT_PORTFOLIO`, default `portfolio.toml` at the root."""
    return _env_path("VAULT_PORTFOLIO", PROJECT_ROOT / "portfolio.toml")


def live_mode() -> bool:
    """`VAULT_LIVE=1` asks yfinance for new data; anything else uses the embedded data."""
    return os.environ.get("VAULT_LIVE", "0").strip().lower() in {"1", "true", "yes", "on"}
