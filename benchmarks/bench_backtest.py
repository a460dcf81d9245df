"""Speed of the backtest sweep and the Monte Carlo, against the per-day reference loop.

    .venv/bin/python benchmarks/bench_backtest.py           # print the table
    .venv/bin/python benchmarks/bench_backtest.py --write   # also write its section of BENCHMARKS.md

Inputs: the embedded real GLD closes, GVZ and T-bills (2004-11-18 .. last close). The sweep is the
full grid (pipeline/backtest/sweep.py) on the `full` event, then on every preset. "Given the stored
price surface" = after every held contract has been marked (MarkBook.price, timed apart). Every
figure comes from this one run; warm figures are the best of several calls after one that compiles.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import write_section  # noqa: E402
from pipeline.backtest import montecarlo, sweep  # noqa: E402
from pipeline.backtest.events import FULL_EVENT_ID, PRESET_EVENTS  # noqa: E402
from pipeline.backtest.providers import Market, SyntheticProvider  # noqa: E402
from pipeline.backtest.reference import reference_replay  # noqa: E402
from pipeline.backtest.runs import book_signal, scenario_for  # noqa: E402
from pipeline.config import load_portfolio  # noqa: E402
from pipeline.market import embedded  # noqa: E402
from pipeline.portfolio.positions import market_surface  # noqa: E402
from pipeline.strategies.templates import SYSTEM_TEMPLATES  # noqa: E402

SWEEP_GOAL_S, MC_GOAL_S = 10.0, 10.0
MC_PATHS, MC_STEPS = 100_000, 365
REFERENCE_POLICIES = 3


def _best(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the backtest section of BENCHMARKS.md")
    opts = parser.parse_args()

    now = datetime.now(timezone.utc)
    surface = market_surface(embedded.load_prices("GLD", now), embedded.load_gvz(now), embedded.load_rates(now))
    market = Market.from_surface(surface)
    provider = SyntheticProvider(market)
    book = load_portfolio(ROOT / "portfolio.toml")
    signal = book_signal(market, book)
    ltv = 0.65
    full = [scenario_for(market, e, book, ltv) for e in PRESET_EVENTS if e.event_id == FULL_EVENT_ID]
    every = [scenario_for(market, e, book, ltv) for e in PRESET_EVENTS]
    policies = sweep.sweep_grid()

    compile_s, _ = _timed(lambda: sweep.replay_family(sweep.price_family(provider, full[:1], signal, sweep.FAMILIES[0])))
    figures = {}
    for label, scenarios in (("full", full), ("every", every)):
        build_s, priced = 0.0, []
        for family in sweep.FAMILIES:
            seconds, family_priced = _timed(lambda f=family: sweep.price_family(provider, scenarios, signal, f))
            build_s += seconds
            priced.append(family_priced)
        replay_s = _best(lambda: [sweep.replay_family(p) for p in priced], 3)
        marks = sum(p.book.marks.mid.size for p in priced)
        figures[label] = (build_s, replay_s, marks)

    sample = [p.policy() for p in policies[:: len(policies) // REFERENCE_POLICIES][:REFERENCE_POLICIES]]
    loop_s = _best(lambda: [reference_replay(provider, full[0], p, signal) for p in sample], 1) / len(sample)

    history = surface.select("date", "close", "atm_vol", "rate")
    start = history.row(-1, named=True)
    loan = ltv * book.share_count * start["close"]
    inputs = montecarlo.simulation_inputs(history, book.share_count, loan, book.loan.margin_call_ltv, SYSTEM_TEMPLATES)
    grid_s, grid = _timed(lambda: montecarlo.price_grid(history, SYSTEM_TEMPLATES))

    def simulate() -> object:
        return montecarlo.first_breach_steps(inputs, grid, paths=MC_PATHS, seed=book.backtest.mc_seed,
                                             mean_block_days=book.backtest.mc_mean_block_days, steps=MC_STEPS)

    mc_first_s, _ = _timed(simulate)
    mc_s = _best(simulate, 3)

    days = full[0].last - full[0].first + 1
    full_build, full_replay, full_marks = figures["full"]
    every_build, every_replay, every_marks = figures["every"]
    loop_total = loop_s * len(policies)
    rows = [
        (f"Sweep: {len(policies):,} policies x {days:,} GLD days ({market.day(full[0].first)}..{market.day(full[0].last)}), "
         "given the stored marks", full_replay, SWEEP_GOAL_S, f"{loop_total:,.0f} s (est.)", loop_total / full_replay),
        (f"Sweep: {len(policies):,} policies x all {len(every)} events", every_replay, SWEEP_GOAL_S, "", None),
        (f"Monte Carlo: {MC_PATHS:,} paths x {MC_STEPS} days, unhedged + {len(SYSTEM_TEMPLATES)} templates",
         mc_s, MC_GOAL_S, "", None),
    ]
    lines = ["| stage | ours (warm) | goal | per-day reference loop | loop / ours |", "|---|---|---|---|---|"]
    lines += [f"| {label} | {ours:.2f} s | <= {goal:.0f} s | {loop} | {f'{ratio:,.0f}x' if ratio else ''} |"
              for label, ours, goal, loop, ratio in rows]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    notes = [
        f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; load average at the end: {load}.",
        f"Stored price surface (timed apart): every held contract marked exactly by the American kernel, each "
        f"(leg, opening day) once for all policies: {full_marks:,} marks in {full_build:.1f} s for `full`, "
        f"{every_marks:,} in {every_build:.1f} s for all events. Interpolation error: none (no interpolation).",
        f"Reference loop (pipeline/backtest/reference.py, one provider call per leg per day): {loop_s:.2f} s per "
        f"policy on `full`, measured on {len(sample)} policies; the loop column is that x {len(policies):,}.",
        f"First sweep call in this process (compiles the kernels, one family on `full`): {compile_s:.1f} s.",
        f"Monte Carlo price grid (American kernel time values over standardised moneyness x sqrt(t) x ATM vol x rate, 1.30 M nodes) built in {grid_s:.1f} s, "
        f"timed apart; the first simulation call (compiling) took {mc_first_s:.1f} s. Interpolation error: "
        "docs/montecarlo.md.",
    ]
    text = ("## Backtests\n\nGenerated by `.venv/bin/python benchmarks/bench_backtest.py --write`; "
            "wall-clock seconds (lower is better).\n\n" + "\n".join(lines) + "\n\n"
            + "\n".join(f"- {note}" for note in notes))
    print(text)
    if opts.write:
        write_section("backtest", text)


if __name__ == "__main__":
    main()
