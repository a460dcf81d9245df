"""Protection signal and tail risk against hand calculations (pipeline/strategies/signals.py)."""

from __future__ import annotations

import math
from datetime import date

import duckdb
import polars as pl
import pytest

from pipeline.config import StrategySettings, parse_portfolio
from pipeline.methodology import METHODOLOGY_VERSION
from pipeline.strategies.signals import (
    PROTECTION_SIGNAL_SCHEMA,
    TAIL_RISK_SCHEMA,
    protection_signal,
    tail_risk_daily,
)
from pipeline.warehouse import replace_rows
from tests.strategies.conftest import declared_schema

DEFAULTS = StrategySettings()


def _settings(**strategy: object) -> StrategySettings:
    """The `[strategy]` block of a parsed portfolio file."""
    return parse_portfolio({"start_date": date(2026, 1, 2), "collateral": {"shares": 1000.0},
                            "loan": {"amount": 275000.0}, "strategy": strategy}).strategy


# --- protection signal ---------------------------------------------------------------------------

def _surface(rows: list[tuple[date, float | None, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(day, "synthetic", atm, hv) for day, atm, hv in rows],
        schema={"date": pl.Date, "iv_source": pl.String, "atm_iv_30d": pl.Float64, "hv20": pl.Float64},
        orient="row",
    )


SURFACE = _surface([  # deliberately out of date order
    (date(2026, 1, 8), 0.25, 0.20),
    (date(2026, 1, 5), 0.15, 0.20),
    (date(2026, 1, 7), 0.23, 0.20),
    (date(2026, 1, 6), 0.19, 0.20),
    (date(2026, 1, 9), None, 0.20),
    (date(2026, 1, 12), 0.20, None),
    (date(2026, 1, 13), 0.20, 0.0),
    (date(2026, 1, 14), float("nan"), 0.20),
])


def test_signal_default_thresholds() -> None:
    """Defaults: DISCOUNT below nvrp -0.10, RICH above +0.20.

        2026-01-05  0.15 / 0.20 - 1 = -0.25  < -0.10          DISCOUNT
        2026-01-06  0.19 / 0.20 - 1 = -0.05  in [-0.10, 0.20]  FAIR
        2026-01-07  0.23 / 0.20 - 1 = +0.15  in [-0.10, 0.20]  FAIR
        2026-01-08  0.25 / 0.20 - 1 = +0.25  > 0.20           RICH
    Left out: no atm_iv_30d (01-09), no hv20 (01-12), hv20 = 0 (01-13), atm_iv_30d NaN (01-14).
    """
    out = protection_signal(SURFACE, DEFAULTS)
    assert out["date"].to_list() == [date(2026, 1, d) for d in (5, 6, 7, 8)]
    assert out["nvrp"].to_list() == pytest.approx([-0.25, -0.05, 0.15, 0.25], abs=1e-12)
    assert out["signal"].to_list() == ["DISCOUNT", "FAIR", "FAIR", "RICH"]
    assert out["atm_iv_30d"].to_list() == [0.15, 0.19, 0.23, 0.25]
    assert out["hv20"].to_list() == [0.20] * 4
    assert out["iv_source"].to_list() == ["synthetic"] * 4
    assert out["discount_below"].to_list() == [-0.10] * 4
    assert out["rich_above"].to_list() == [0.20] * 4
    assert out["methodology_version"].to_list() == [METHODOLOGY_VERSION] * 4


def test_signal_thresholds_from_portfolio_and_exact_ties() -> None:
    """`[strategy] signal_discount_below = -0.25, signal_rich_above = 0.5` (exact in binary, so
    nvrp can land exactly on them; hv20 = 0.5 makes every division exact):

        atm 0.25               0.25 / 0.5 - 1  = -0.50          DISCOUNT (DISCOUNT by default too)
        atm 0.375 - 1 ulp      just below -0.25                 DISCOUNT (strictly below)
        atm 0.375              0.375 / 0.5 - 1 = -0.25 exactly  FAIR     (default: DISCOUNT)
        atm 0.75               0.75 / 0.5 - 1  = +0.50 exactly  FAIR     (default: RICH)
        atm 0.75 + 1 ulp       just above +0.50                 RICH
        atm 0.875              0.875 / 0.5 - 1 = +0.75          RICH
    """
    atms = [0.25, math.nextafter(0.375, 0.0), 0.375, 0.75, math.nextafter(0.75, 1.0), 0.875]
    surface = _surface([(date(2026, 2, 2 + i), atm, 0.5) for i, atm in enumerate(atms)])
    custom = protection_signal(surface, _settings(signal_discount_below=-0.25, signal_rich_above=0.5))
    assert custom["nvrp"][[0, 2, 3, 5]].to_list() == [-0.5, -0.25, 0.5, 0.75]
    assert custom["signal"].to_list() == ["DISCOUNT", "DISCOUNT", "FAIR", "FAIR", "RICH", "RICH"]
    assert custom["discount_below"].unique().to_list() == [-0.25]
    assert custom["rich_above"].unique().to_list() == [0.5]
    default = protection_signal(surface, DEFAULTS)
    assert default["signal"].to_list() == ["DISCOUNT", "DISCOUNT", "DISCOUNT", "RICH", "RICH", "RICH"]


def test_signal_fits_the_declared_table(scratch: duckdb.DuckDBPyConnection) -> None:
    out = protection_signal(SURFACE, DEFAULTS)
    assert out.schema == PROTECTION_SIGNAL_SCHEMA == declared_schema(scratch, "protection_signal")
    assert replace_rows(scratch, "analytics.protection_signal", out) == 4


# --- tail risk -----------------------------------------------------------------------------------

def _ltv(rows: list[tuple[date, float, float, float, float, float, float, float]]) -> pl.DataFrame:
    """(date, gld_close, collateral_value, loan, hedge_value, delta, gamma, vega) as ltv_daily rows."""
    return pl.DataFrame(rows, orient="row", schema={
        "date": pl.Date, "gld_close": pl.Float64, "collateral_value": pl.Float64, "loan": pl.Float64,
        "hedge_value": pl.Float64, "portfolio_delta": pl.Float64, "portfolio_gamma": pl.Float64,
        "portfolio_vega": pl.Float64})


# 1,000 GLD shares at 400 (collateral 400,000) against a 275,000 loan unless said otherwise.
LTV = _ltv([
    (date(2026, 3, 9), 250.0, 250_000.0, 275_000.0, 0.0, 1000.0, 0.0, 0.0),
    (date(2026, 3, 2), 400.0, 400_000.0, 275_000.0, 4_000.0, 850.0, 5.0, 250.0),
    (date(2026, 3, 3), 400.0, 400_000.0, 275_000.0, 4_000.0, 850.0, 20.0, 250.0),
    (date(2026, 3, 4), 400.0, 400_000.0, 275_000.0, -3_000.0, 1000.0, 0.0, -500.0),
    (date(2026, 3, 5), 400.0, 400_000.0, 275_000.0, 4_000.0, 50.0, 0.0, 0.0),
    (date(2026, 3, 6), 400.0, 400_000.0, 275_000.0, 4_000.0, -100.0, 0.0, 0.0),
])


def test_tail_risk_default_grid() -> None:
    """Default grid: spot -5/-10/-20/-30 % x vol +0/+10/+20 points = 12 scenarios. At a 400 close
    dS = -20, -40, -80, -120 (dS^2 = 400, 1,600, 6,400, 14,400); pnl = delta dS + gamma dS^2 / 2
    + vega x points. Safe < 5 % of equity, Extreme > 15 %.

    03-02  long puts: 1,000 shares + 500 put shares (delta -0.30, gamma 0.01, vega 0.50 each):
           delta 850, gamma 5, vega 250; equity 400,000 + 4,000 - 275,000 = 129,000
               shock   +0 vol    +10 vol   +20 vol
               -5 %   -16,000   -13,500   -11,000     (-17,000 + 1,000, then +2,500 / +5,000)
               -10 %  -30,000   -27,500   -25,000     (-34,000 + 4,000)
               -20 %  -52,000   -49,500   -47,000     (-68,000 + 16,000)
               -30 %  -66,000   -63,500   -61,000     (-102,000 + 36,000)
           worst (-0.30, 0.00) -66,000; 66,000 / 129,000 = 0.511628  Extreme
    03-03  gamma 20 (convex enough that the -10 % shock is worst): v = 0 column
           -13,000 (-17,000 + 4,000), -18,000 (-34,000 + 16,000), -4,000, +42,000
           worst (-0.10, 0.00) -18,000; 18,000 / 129,000 = 0.139535  Loaded
    03-04  a short option: delta 1,000, vega -500, hedge_value -3,000: equity 122,000
           -30 %: -120,000 - 500 x 20 = -130,000 at +20 vol; 130,000 / 122,000 = 1.065574  Extreme
    03-05  delta 50, no gamma or vega: -30 % -> -6,000 at every vol shock (tie: +0 vol first)
           6,000 / 129,000 = 0.046512  Safe
    03-06  net short, delta -100: every down shock gains; the least gain is -5 %: +2,000 (+0 vol)
           max(-2,000, 0) / 129,000 = 0  Safe
    03-09  under water: close 250, collateral 250,000 < loan: equity -25,000 -> tail 1.0, Extreme;
           worst 1,000 x (-0.30 x 250) = -75,000 at (-0.30, 0.00)
    """
    out = tail_risk_daily(LTV, DEFAULTS)
    assert out["date"].to_list() == [date(2026, 3, d) for d in (2, 3, 4, 5, 6, 9)]
    assert out["equity"].to_list() == [129_000.0, 129_000.0, 122_000.0, 129_000.0, 129_000.0, -25_000.0]
    assert out["worst_spot_shock"].to_list() == [-0.30, -0.10, -0.30, -0.30, -0.05, -0.30]
    assert out["worst_vol_shock"].to_list() == [0.0, 0.0, 0.20, 0.0, 0.0, 0.0]
    assert out["worst_pnl"].to_list() == pytest.approx([-66_000, -18_000, -130_000, -6_000, 2_000, -75_000])
    assert out["tail_risk_pct"].to_list() == pytest.approx([0.511628, 0.139535, 1.065574, 0.046512, 0.0, 1.0],
                                                           abs=1e-6)
    assert out["status"].to_list() == ["Extreme", "Loaded", "Extreme", "Safe", "Safe", "Extreme"]
    assert out["scenarios"].to_list() == [12] * 6
    assert out["gld_close"].to_list() == [400.0] * 5 + [250.0]
    assert out["methodology_version"].unique().to_list() == [METHODOLOGY_VERSION]


def test_tail_risk_settings_from_portfolio() -> None:
    """`[strategy] tail_spot_shocks = [-0.25], tail_vol_shocks = [0.0, 0.5], tail_loaded_above = 0.25,
    tail_extreme_above = 0.5`: the listed 0.0 repeats the always-included +0 vol, so 1 x 2 = 2
    scenarios. Close 400 (dS = -100), collateral 800,000, loan 400,000: equity 400,000.

        delta   400            -40,000 / 400,000 = 0.10    Safe
                               (default grid: -30 % -> 400 x -120 = -48,000 = 0.12, Loaded)
        delta 1,000           -100,000           = 0.25    Loaded   (exactly at 0.25: not Safe)
        delta 2,000           -200,000           = 0.50    Loaded   (exactly at 0.5: not Extreme)
        delta 2,000, vega -1  -200,000 - 1 x 50 = -200,050 at +50 vol = 0.500125  Extreme
    """
    rows = [(date(2026, 4, 1 + i), 400.0, 800_000.0, 400_000.0, 0.0, delta, 0.0, vega)
            for i, (delta, vega) in enumerate([(400.0, 0.0), (1000.0, 0.0), (2000.0, 0.0), (2000.0, -1.0)])]
    settings = _settings(tail_spot_shocks=[-0.25], tail_vol_shocks=[0.0, 0.5],
                         tail_loaded_above=0.25, tail_extreme_above=0.5)
    out = tail_risk_daily(_ltv(rows), settings)
    assert out["worst_pnl"].to_list() == [-40_000.0, -100_000.0, -200_000.0, -200_050.0]
    assert out["worst_vol_shock"].to_list() == [0.0, 0.0, 0.0, 0.5]
    assert out["tail_risk_pct"].to_list() == pytest.approx([0.10, 0.25, 0.5, 0.500125], rel=1e-12)
    assert out["status"].to_list() == ["Safe", "Loaded", "Loaded", "Extreme"]
    assert out["scenarios"].to_list() == [2] * 4
    default = tail_risk_daily(_ltv(rows[:1]), DEFAULTS)
    assert default["tail_risk_pct"].item() == pytest.approx(0.12) and default["status"].item() == "Loaded"


def test_tail_risk_fits_the_declared_table(scratch: duckdb.DuckDBPyConnection) -> None:
    out = tail_risk_daily(LTV, DEFAULTS)
    assert out.schema == TAIL_RISK_SCHEMA == declared_schema(scratch, "tail_risk_daily")
    assert replace_rows(scratch, "analytics.tail_risk_daily", out) == LTV.height
    empty = tail_risk_daily(LTV.clear(), DEFAULTS)
    assert empty.height == 0 and empty.schema == TAIL_RISK_SCHEMA
