"""Hand-made backtest rows in the columns of warehouse/schema/60_analytics_backtest.sql, loaded into a
real DuckDB file the way the engine's writer will (pipeline.warehouse.open_warehouse + replace_tables).

Three events on the real embedded GLD closes, 1,000 shares, a fixed loan (no cure), margin call 75 %:

    gfc_2008    2008-03-17 (99.17) .. trough 2008-11-12 (70.00, -29.4 %), +20 days to 2008-12-11;
                loan 0.60 x 99,170 = 59,502: unhedged LTV crosses 75 % below 79.34, first on 2008-08-15,
                and peaks at 59,502 / 70,000 = 85.0 % on 2008-11-12
    covid_2020  2020-03-09 (157.81) .. 2020-03-19 (138.04, -12.5 %), +20 days to 2020-04-17;
                loan 0.68 x 157,810 = 107,310.80: unhedged breach below 143.08, first on 2020-03-16
                (141.64), peak 107,310.80 / 138,040 = 77.7 %
    full        2004-11-18 (44.38) .. 2026-10-06 (382.27), lowest close 41.26 on 2005-02-08 (-7.0 %);
                loan 0.60 x 44,380 = 26,628

Each hedge is a static position bought on the start day (strikes as a fraction of the start close:
put 95 %, collar 95 / 110 %, put spread 95 / 80 %, put 90 %), marked at intrinsic value until it
expires on min(path end, start + 365 days), worth nothing after. So on 2008-11-12 the 95 % put
(strike 94.21) is worth 24,210 and hedged LTV is 59,502 / 94,210 = 63.2 %; the 95 / 80 spread only
pays 94.21 - 79.34 = 14.87 a share: 59,502 / 84,870 = 70.1 %. The costs are Black-Scholes premiums
(long legs at mid + 2 %, short legs at mid - 2 %). Every figure in RUNS was worked out from the closes
this way; the paths are computed from the closes by the same rule, so the charts agree with the tables.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import polars as pl
import pytest

from pipeline import warehouse as wh
from pipeline.publish.backtests import BacktestTables, read_backtest_tables
from pipeline.publish.data import DashboardData

SHARES: Final = 1_000.0
MARGIN_CALL_LTV: Final = 0.75
HEDGE_LIFE_DAYS: Final = 365
BACKTEST_TABLES: Final = ("backtest_events", "backtest_runs", "backtest_paths", "backtest_sweep",
                          "hedge_policy_optimum", "margin_call_probability")

# event_id -> label, start, end (trough), path end, tail days, trading days, start close, end close,
# low close, low date, drawdown, initial LTV
EVENTS: Final = {
    "gfc_2008": ("Global financial crisis 2008", date(2008, 3, 17), date(2008, 11, 12), date(2008, 12, 11), 20, 189,
                 99.17, 70.00, 70.00, date(2008, 11, 12), -0.294141, 0.60),
    "covid_2020": ("COVID-19 crash 2020", date(2020, 3, 9), date(2020, 3, 19), date(2020, 4, 17), 20, 29,
                   157.81, 138.04, 138.04, date(2020, 3, 19), -0.125277, 0.68),
    "full": ("Whole history since 2004", date(2004, 11, 18), date(2026, 10, 6), date(2026, 10, 6), 0, 5504,
             44.38, 382.27, 41.26, date(2005, 2, 8), -0.070302, 0.60),
}
# policy_id -> legs (right, strike / start close, +1 long / -1 short)
POLICIES: Final = {
    "unhedged": (),
    "protective_put_95": (("P", 0.95, 1),),
    "collar_95_110": (("P", 0.95, 1), ("C", 1.10, -1)),
    "put_spread_95_80": (("P", 0.95, 1), ("P", 0.80, -1)),
    "protective_put_90": (("P", 0.90, 1),),  # no display name in the strategy fixture: shown by its id
}
# event_id -> policy_id -> rank, survived, max LTV, its date, first breach, hedge cost, cost per year,
# payoff received, final equity
RUNS: Final = {
    "gfc_2008": {
        "collar_95_110": (1, True, 0.6316, date(2008, 3, 19), None, 360.0, 0.00493, 13_560.0, 34_348.0),
        "protective_put_95": (2, True, 0.6316, date(2008, 3, 19), None, 4_580.0, 0.06267, 13_560.0, 30_128.0),
        "protective_put_90": (3, True, 0.6667, date(2008, 4, 1), None, 2_850.0, 0.03899, 8_600.0, 26_898.0),
        "put_spread_95_80": (4, True, 0.7011, date(2008, 11, 12), None, 3_770.0, 0.05158, 13_560.0, 30_938.0),
        "unhedged": (5, False, 0.8500, date(2008, 11, 12), date(2008, 8, 15), 0.0, 0.0, 0.0, 21_148.0),
    },
    "covid_2020": {
        "collar_95_110": (1, True, 0.7158, date(2020, 3, 20), None, 1_080.0, 0.06405, 0.0, 50_179.0),
        "put_spread_95_80": (2, True, 0.7158, date(2020, 3, 20), None, 1_790.0, 0.10616, 0.0, 49_469.0),
        "protective_put_95": (3, True, 0.7158, date(2020, 3, 20), None, 1_810.0, 0.10734, 0.0, 49_449.0),
        "protective_put_90": (4, False, 0.7556, date(2020, 3, 18), date(2020, 3, 16), 470.0, 0.02787, 0.0,
                              50_789.0),
        "unhedged": (5, False, 0.7774, date(2020, 3, 19), date(2020, 3, 16), 0.0, 0.0, 0.0, 51_259.0),
    },
    "full": {
        "collar_95_110": (1, True, 0.6316, date(2005, 1, 7), None, 10.0, 0.00001, 0.0, 355_632.0),
        "put_spread_95_80": (2, True, 0.6316, date(2005, 1, 7), None, 1_220.0, 0.00126, 0.0, 354_422.0),
        "protective_put_95": (3, True, 0.6316, date(2005, 1, 7), None, 1_340.0, 0.00138, 0.0, 354_302.0),
        "unhedged": (4, True, 0.6454, date(2005, 2, 8), None, 0.0, 0.0, 0.0, 355_642.0),
        "protective_put_90": (5, True, 0.6454, date(2005, 2, 8), None, 720.0, 0.00074, 0.0, 354_922.0),
    },
}
# The sweep: policy_id -> cost per year, worst LTV, on the frontier. Dominated points each have a
# frontier point that is both cheaper and safer (F by A, G by B, H, I, L by C, J, K by D).
SWEEP: Final = {
    "put_m0.900_t182_r30_h0.50_l1_s1": (0.0061, 0.812, True),   # A
    "put_m0.900_t91_r21_h0.75_l1_s0": (0.0118, 0.738, True),    # B
    "put_m0.950_t91_r21_h0.75_l2_s0": (0.0187, 0.694, True),    # C: the optimum (cheapest below the 70 % cap)
    "put_m1.000_t91_r21_h1.00_l1_s0": (0.0342, 0.652, True),    # D
    "put_m1.000_t365_r60_h1.00_l3_s0": (0.0495, 0.631, True),   # E
    "put_m0.900_t91_r21_h0.50_l1_s0": (0.0095, 0.826, False),   # F
    "put_m0.950_t91_r21_h0.50_l1_s0": (0.0142, 0.781, False),   # G
    "put_m0.950_t182_r30_h0.75_l1_s0": (0.0230, 0.722, False),  # H
    "put_m0.950_t365_r60_h1.00_l1_s1": (0.0310, 0.705, False),  # I
    "put_m1.000_t182_r30_h0.75_l2_s0": (0.0415, 0.668, False),  # J
    "put_m0.900_t365_r60_h1.00_l3_s1": (0.0401, 0.690, False),  # K
    "put_m1.000_t91_r21_h0.50_l1_s0": (0.0260, 0.760, False),   # L
}
OPTIMUM_POLICY: Final = "put_m0.950_t91_r21_h0.75_l2_s0"
LTV_CAP: Final = 0.70
# Monte Carlo from 2026-10-06 at 65.4 %: (horizon, policy) -> probability and its 95 % Wilson
# interval for 100,000 paths.
PROBABILITIES: Final = {
    (30, "unhedged"): (0.0412, 0.0400, 0.0424),
    (30, "protective_put_95"): (0.0007, 0.0006, 0.0009),
    (30, "collar_95_110"): (0.0011, 0.0009, 0.0013),
    (90, "unhedged"): (0.1318, 0.1297, 0.1339),
    (90, "protective_put_95"): (0.0096, 0.0090, 0.0102),
    (90, "collar_95_110"): (0.0129, 0.0122, 0.0136),
    (365, "unhedged"): (0.2874, 0.2846, 0.2902),
    (365, "protective_put_95"): (0.0583, 0.0569, 0.0598),
    (365, "collar_95_110"): (0.0702, 0.0686, 0.0718),
}
MC_PATHS: Final = 100_000
MC_SEED: Final = 20260129
MC_METHOD: Final = "stationary_block_bootstrap(mean_block=20)"


def _sweep_parameters(policy_id: str) -> dict[str, object]:
    """The parameters a sweep policy id spells: put_m<moneyness>_t<tenor>_r<roll>_h<ratio>_l<rungs>_s<signal>."""
    _, moneyness, tenor, roll, ratio, rungs, signal = policy_id.split("_")
    return {"moneyness": float(moneyness[1:]), "tenor_days": int(tenor[1:]), "roll_dte": int(roll[1:]),
            "hedge_ratio": float(ratio[1:]), "ladder_rungs": int(rungs[1:]), "signal": signal == "s1",
            "family": "protective_put" if rungs == "l1" else "ladder"}


def event_rows() -> pl.DataFrame:
    return pl.DataFrame([
        {"event_id": event_id, "label": label, "source": "preset", "start_date": start, "end_date": end,
         "path_end_date": path_end, "tail_days": tail, "trading_days": days, "start_close": start_close,
         "end_close": end_close, "low_close": low_close, "low_date": low_date, "drawdown": drawdown}
        for event_id, (label, start, end, path_end, tail, days, start_close, end_close, low_close, low_date,
                       drawdown, _) in EVENTS.items()
    ])


def run_rows() -> pl.DataFrame:
    rows = []
    for event_id, runs in RUNS.items():
        label, start, _, path_end, *_, start_close, _, _, _, _, initial_ltv = EVENTS[event_id]
        unhedged = runs["unhedged"]
        for policy_id, (rank, survived, max_ltv, max_date, breach, cost, cost_pct, payoff, equity) in runs.items():
            hedged = policy_id != "unhedged"
            rows.append({
                "event_id": event_id, "policy_id": policy_id, "template_id": policy_id if hedged else None,
                "provider": "synthetic", "hedge_ratio": 1.0 if hedged else 0.0, "roll_dte": 21, "budget_cap": None,
                "signal": "none", "start_date": start, "path_end_date": path_end, "initial_ltv": initial_ltv,
                "loan_start": round(initial_ltv * SHARES * start_close, 2), "margin_call_ltv": MARGIN_CALL_LTV,
                "survived": survived, "max_ltv": max_ltv, "max_ltv_date": max_date, "first_breach_date": breach,
                "final_equity": equity, "hedge_cost_total": cost, "hedge_cost_annualised_pct": cost_pct,
                "payoff_received": payoff, "sharpe": 0.41 if hedged else 0.38, "max_drawdown": -0.31,
                "win_rate": 0.52, "profit_factor": 1.08, "trades": 1 if hedged else 0,
                "unhedged_survived": unhedged[1], "unhedged_max_ltv": unhedged[2],
                "unhedged_max_ltv_date": unhedged[3], "unhedged_first_breach_date": unhedged[4],
                "unhedged_final_equity": unhedged[8], "unhedged_sharpe": 0.38, "unhedged_max_drawdown": -0.42,
                "unhedged_win_rate": 0.51, "unhedged_profit_factor": 1.05, "rank": rank,
            })
    return pl.DataFrame(rows, infer_schema_length=None)


def _hedge_value(legs: tuple[tuple[str, float, int], ...], start_close: float) -> pl.Expr:
    """The legs' intrinsic value on the position (1,000 shares) at each close."""
    value = pl.lit(0.0)
    for right, strike_ratio, sign in legs:
        strike = round(strike_ratio * start_close, 2)
        payoff = (strike - pl.col("close")) if right == "P" else (pl.col("close") - strike)
        value = value + sign * SHARES * payoff.clip(lower_bound=0)
    return value


def path_rows(closes: pl.DataFrame) -> pl.DataFrame:
    """Every event x policy path from the GLD closes (date, close), by the rule in the docstring."""
    frames = []
    for event_id, (_, start, _, path_end, *_, start_close, _, _, _, _, initial_ltv) in EVENTS.items():
        window = closes.filter(pl.col("date").is_between(start, path_end)).select("date", "close")
        loan = round(initial_ltv * SHARES * start_close, 2)
        expiry = min(path_end, start + timedelta(days=HEDGE_LIFE_DAYS))
        for policy_id, legs in POLICIES.items():
            _, _, _, _, _, cost, _, payoff, _ = RUNS[event_id][policy_id]
            live = pl.col("date") <= expiry
            frames.append(window.with_columns(
                hedge_value=pl.when(live).then(_hedge_value(legs, start_close)).otherwise(0.0),
                cash_spent=pl.when(live).then(pl.lit(cost)).otherwise(pl.lit(cost - payoff)),
            ).select(
                pl.lit(event_id).alias("event_id"), pl.lit(policy_id).alias("policy_id"),
                pl.lit("synthetic").alias("provider"), "date", pl.col("close").alias("gld_close"),
                (SHARES * pl.col("close")).alias("collateral_value"), "hedge_value", "cash_spent",
                pl.lit(loan).alias("loan"),
                (loan / (SHARES * pl.col("close"))).alias("unhedged_ltv"),
                (loan / (SHARES * pl.col("close") + pl.col("hedge_value"))).alias("hedged_ltv"),
                (SHARES * pl.col("close") + pl.col("hedge_value") - loan - pl.col("cash_spent")).alias("equity"),
                pl.lit("synthetic" if legs else "none").alias("price_source"),
            ))
    return pl.concat(frames).with_columns((pl.col("hedged_ltv") >= MARGIN_CALL_LTV).alias("breach"))


def sweep_rows() -> pl.DataFrame:
    return pl.DataFrame([
        {"policy_id": policy_id, **_sweep_parameters(policy_id), "events": 3,
         "events_survived": 3 if worst < MARGIN_CALL_LTV else 2, "survived_all": worst < MARGIN_CALL_LTV,
         "worst_max_ltv": worst, "total_cost": round(cost * 44_380 * 21.9, -1), "cost_annualised_pct": cost,
         "on_frontier": frontier}
        for policy_id, (cost, worst, frontier) in SWEEP.items()
    ])


def optimum_rows() -> pl.DataFrame:
    picked = [("frontier", policy_id) for policy_id, (_, _, frontier) in SWEEP.items() if frontier]
    return pl.DataFrame([
        {"kind": kind, "policy_id": policy_id, **_sweep_parameters(policy_id),
         "survived_all": SWEEP[policy_id][1] < MARGIN_CALL_LTV, "worst_max_ltv": SWEEP[policy_id][1],
         "cost_annualised_pct": SWEEP[policy_id][0], "ltv_cap": LTV_CAP}
        for kind, policy_id in [("optimum", OPTIMUM_POLICY), *picked]
    ])


def probability_rows() -> pl.DataFrame:
    return pl.DataFrame([
        {"horizon_days": horizon, "policy_id": policy_id, "probability": p, "ci_low": low, "ci_high": high,
         "paths": MC_PATHS, "seed": MC_SEED, "method": MC_METHOD, "start_date": date(2026, 10, 6),
         "start_ltv": 0.654}
        for (horizon, policy_id), (p, low, high) in PROBABILITIES.items()
    ])


def backtest_frames(closes: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Table name (in analytics) -> the fixture rows."""
    return {"backtest_events": event_rows(), "backtest_runs": run_rows(), "backtest_paths": path_rows(closes),
            "backtest_sweep": sweep_rows(), "hedge_policy_optimum": optimum_rows(),
            "margin_call_probability": probability_rows()}


def load_backtest_tables(path: Path, frames: dict[str, pl.DataFrame]) -> BacktestTables:
    """Write `frames` (every table not given stays empty) into a real warehouse file at `path` and
    read them back as the publish step does."""
    with wh.open_warehouse(path) as conn:
        wh.replace_tables(conn, {f"analytics.{table}": frame for table, frame in frames.items()})
    with wh.open_warehouse(path, read_only=True) as conn:
        return read_backtest_tables(conn)


def large_backtest_frames(events: int = 10, event_days: int = 260, full_days: int = 5_600,
                          sweep_size: int = 10_000) -> dict[str, pl.DataFrame]:
    """Tables the size of a real run: `events` selloffs of `event_days` trading days plus a 'full'
    event of `full_days`, 9 policies each (8 templates and unhedged), and a sweep of `sweep_size`
    policies; values are smooth made-up curves, only the sizes matter."""
    policies = ["unhedged", *[f"template_{i}" for i in range(8)]]
    spans = {f"event_{i:02d}": (date(2005 + 2 * i, 1, 3), event_days) for i in range(events)}
    spans["full"] = (date(2004, 11, 18), full_days)
    event_list, runs, paths = [], [], []
    for event_id, (start, days) in spans.items():
        dates = pl.date_range(start, start + timedelta(days=days * 7 // 5 + 10), eager=True)
        dates = dates.filter(dates.dt.weekday() <= 5).head(days)
        step = pl.int_range(0, dates.len(), eager=True)
        close = 100.0 * (1 - 0.25 * (step / dates.len() * 3.1416).sin())
        end = dates[-1]
        event_list.append({"event_id": event_id, "label": f"Event {event_id}", "source": "preset",
                           "start_date": start, "end_date": end, "path_end_date": end, "tail_days": 0,
                           "trading_days": dates.len(), "start_close": 100.0, "end_close": close[-1],
                           "low_close": close.min(), "low_date": dates[int(close.arg_min())],
                           "drawdown": close.min() / 100.0 - 1})
        for rank, policy_id in enumerate(policies, start=1):
            cover = 0.1 * rank
            hedged = (60_000 / (1_000 * close * (1 + cover * (1 - close / 100.0))))
            runs.append({**run_rows().row(0, named=True), "event_id": event_id, "policy_id": policy_id,
                         "template_id": None if policy_id == "unhedged" else policy_id, "rank": rank,
                         "start_date": start, "path_end_date": end})
            paths.append(pl.DataFrame({
                "event_id": event_id, "policy_id": policy_id, "provider": "synthetic", "date": dates,
                "gld_close": close, "collateral_value": 1_000 * close, "hedge_value": 0.0, "cash_spent": 0.0,
                "loan": 60_000.0, "unhedged_ltv": 60_000 / (1_000 * close), "hedged_ltv": hedged,
                "equity": 1_000 * close - 60_000, "breach": hedged >= MARGIN_CALL_LTV, "price_source": "synthetic",
            }))
    index = pl.int_range(0, sweep_size, eager=True)
    sweep = pl.DataFrame({
        "policy_id": [f"put_m{0.85 + (i % 7) * 0.025:.3f}_t{91 * (1 + i % 4)}_r{21 + i % 5}_h{0.5 + (i % 3) * 0.25:.2f}"
                      f"_l{1 + i % 3}_s{i % 2}_{i:05d}" for i in range(sweep_size)],
        "family": "protective_put", "moneyness": 0.95, "tenor_days": 91, "roll_dte": 21, "hedge_ratio": 1.0,
        "ladder_rungs": 1, "signal": False, "events": events + 1, "events_survived": events,
        "survived_all": False,
        "worst_max_ltv": 0.62 + 0.3 * ((index * 7919) % 1000) / 1000,
        "total_cost": 1_000.0,
        "cost_annualised_pct": 0.005 + 0.06 * ((index * 104729) % 997) / 997,
        "on_frontier": index % 250 == 0,
    })
    return {"backtest_events": pl.DataFrame(event_list), "backtest_runs": pl.DataFrame(runs, infer_schema_length=None),
            "backtest_paths": pl.concat(paths), "backtest_sweep": sweep,
            "hedge_policy_optimum": optimum_rows(), "margin_call_probability": probability_rows()}


# --- Fixtures (imported by the backtests page and selloff report tests) ---------------------------

@pytest.fixture(scope="module")
def backtest_tables(all_gld_closes: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> BacktestTables:
    """The fixture rows, written to a real warehouse file and read back."""
    return load_backtest_tables(tmp_path_factory.mktemp("backtests") / "vault.duckdb", backtest_frames(all_gld_closes))


@pytest.fixture(scope="module")
def backtest_data(dashboard_data: DashboardData, backtest_tables: BacktestTables) -> DashboardData:
    """The shared dashboard data with the backtest rows."""
    return replace(dashboard_data, backtests=backtest_tables)
