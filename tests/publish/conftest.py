"""Shared fixtures: a realistic LTV history built from the embedded real GLD closes.

The loan is 250,000 USD against 1,000 GLD shares with a margin call at 75% LTV:

    collateral_value        = shares * gld_close
    ltv                     = loan / collateral_value
    margin_call_price       = loan / (shares * margin_call_ltv)
    distance_to_margin_call = 1 - margin_call_price / gld_close
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from pipeline.publish.context import OverviewContext, build_overview_context
from pipeline.publish.site import publish_site, vega_bundle

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GLD_CSV = PROJECT_ROOT / "data" / "embedded" / "gld_daily.csv"
TEMPLATES_DIR = PROJECT_ROOT / "site_templates"

SHARES = 1_000.0
LOAN = 250_000.0
MARGIN_CALL_LTV = 0.75
HISTORY_START = date(2025, 6, 1)
GENERATED_AT = datetime(2026, 10, 7, 6, 30, tzinfo=timezone.utc)
DATA_STATUS = {
    "prices": "embedded",
    "gvz": "embedded",
    "rates": "stale: yfinance unreachable (timeout after 20s)",
}


@pytest.fixture(scope="session")
def templates_dir() -> Path:
    return TEMPLATES_DIR


@pytest.fixture(scope="session")
def gld_closes() -> pl.DataFrame:
    """Real GLD daily bars from the embedded CSV, from HISTORY_START on."""
    return (
        pl.read_csv(GLD_CSV, try_parse_dates=True)
        .filter(pl.col("date") >= HISTORY_START)
        .sort("date")
    )


@pytest.fixture(scope="session")
def ltv_frame(gld_closes: pl.DataFrame) -> pl.DataFrame:
    """An `analytics.ltv_daily`-shaped frame computed with the formulas in the module docstring."""
    return gld_closes.select(
        "date",
        pl.col("close").alias("gld_close"),
        pl.lit(SHARES).alias("shares"),
        (pl.lit(SHARES) * pl.col("close")).alias("collateral_value"),
        pl.lit(LOAN).alias("loan"),
        (pl.lit(LOAN) / (pl.lit(SHARES) * pl.col("close"))).alias("ltv"),
        pl.lit(MARGIN_CALL_LTV).alias("margin_call_ltv"),
        pl.lit(LOAN / (SHARES * MARGIN_CALL_LTV)).alias("margin_call_price"),
        (1 - pl.lit(LOAN / (SHARES * MARGIN_CALL_LTV)) / pl.col("close")).alias("distance_to_margin_call"),
    )


@pytest.fixture(scope="session")
def prices_frame(gld_closes: pl.DataFrame) -> pl.DataFrame:
    """A `raw.prices_daily`-shaped frame holding the same closes, tagged as embedded."""
    return gld_closes.select(
        pl.lit("GLD").alias("symbol"),
        "date",
        "open",
        "high",
        "low",
        "close",
        "volume",
        pl.lit("embedded").alias("source"),
        pl.lit(GENERATED_AT).alias("fetched_at"),
    )


@pytest.fixture(scope="session")
def overview_context(ltv_frame: pl.DataFrame, prices_frame: pl.DataFrame) -> OverviewContext:
    return build_overview_context(ltv_frame, prices_frame, DATA_STATUS, "Gold Lombard 2025", GENERATED_AT)


@pytest.fixture(scope="session")
def bundle_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide cache holding the Vega bundle, built once (takes ~2 s)."""
    cache_dir = tmp_path_factory.mktemp("vega-bundle-cache")
    vega_bundle(cache_dir)
    return cache_dir


@pytest.fixture(scope="session")
def published_site(
    overview_context: OverviewContext,
    ltv_frame: pl.DataFrame,
    templates_dir: Path,
    bundle_cache_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The site published once per session; returns its output directory."""
    out_dir = tmp_path_factory.mktemp("site") / "public"
    publish_site(overview_context, ltv_frame, out_dir, templates_dir, bundle_cache_dir=bundle_cache_dir)
    return out_dir
