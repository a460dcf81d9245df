"""Selloff reports: one PDF per backtest event, `selloff_<event_id>.pdf`.

What happened (dates, drawdown, GLD's path), the templates ranked by survival, max LTV and cost with
the first margin call highlighted, the unhedged LTV path beside the hedged ones, today's scenario
table and recommendation, and, for the live window ('latest'), how it compares with past events.
The event's panel is the Backtests page's (`event_panel`), so the PDF and the page agree; charts go
in as SVG because WeasyPrint runs no JavaScript.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Final

import polars as pl
import weasyprint
from markupsafe import Markup

from pipeline.publish.backtests import (
    UNHEDGED,
    UNHEDGED_NAME,
    EventOutcome,
    EventPanel,
    event_outcome_rows,
    event_panel,
    policy_names,
)
from pipeline.publish.charts import backtest_paths_chart, gld_path_chart, svg_markup
from pipeline.publish.data import DashboardData
from pipeline.publish.site import atomic_write_bytes, template_environment
from pipeline.publish.strategies import HORIZON_NOW, ProfileRecommendation, _recommendations

TEMPLATE: Final = "selloff_report.html"
CHART_WIDTH: Final = 620
_FILE_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


@dataclass(frozen=True, eq=False)
class SelloffReport:
    """Everything one selloff PDF shows, as rows; `event` need not be in backtest_events (the live
    window is built by the engine)."""

    portfolio_name: str
    generated_at: datetime
    event: Mapping[str, Any]
    """The backtest_events columns of the window."""
    runs: pl.DataFrame
    """backtest_runs rows of the event."""
    paths: pl.DataFrame
    """backtest_paths rows of the event."""
    scenarios: pl.DataFrame
    """Today's analytics.strategy_scenarios rows (the latest chain day)."""
    recommendation: pl.DataFrame
    """Today's analytics.strategy_recommendation rows."""
    comparison: pl.DataFrame | None = None
    """Historical events compared with this window (columns of backtests.event_outcomes); None: none."""
    names: Mapping[str, str] = field(default_factory=dict)
    """policy_id -> display name (backtests.policy_names); an id without one is shown as it is."""


def selloff_report(data: DashboardData, event_id: str) -> SelloffReport:
    """The report of one event of analytics.backtest_events, with today's strategy rows."""
    tables = data.backtests
    events = tables.events.filter(pl.col("event_id") == event_id)
    if events.is_empty():
        raise KeyError(f"no backtest event {event_id!r} in analytics.backtest_events")
    return SelloffReport(
        portfolio_name=data.portfolio_name,
        generated_at=data.generated_at,
        event=events.row(0, named=True),
        runs=tables.runs.filter(pl.col("event_id") == event_id),
        paths=tables.paths.filter(pl.col("event_id") == event_id),
        scenarios=data.strategies.scenarios,
        recommendation=data.strategies.recommendation,
        names=policy_names(data.strategies.comparison),
    )


@dataclass(frozen=True)
class ScenarioRow:
    name: str
    cells: tuple[float | None, ...]
    """Hedged LTV at each GLD move of the grid; None where the engine wrote no row."""
    is_unhedged: bool


@dataclass(frozen=True)
class ScenarioGrid:
    """Today's LTV if GLD moved now (vol unchanged): templates (the portfolio's ranking first) and
    the unhedged loan, by GLD move."""

    as_of: date | None
    spot_shocks: tuple[float, ...]
    rows: tuple[ScenarioRow, ...]


def scenario_grid(scenarios: pl.DataFrame, recommendation: pl.DataFrame, names: Mapping[str, str]) -> ScenarioGrid:
    today = scenarios.filter((pl.col("horizon") == HORIZON_NOW) & (pl.col("vol_shock") == 0))
    spot_shocks = tuple(sorted(set(today["spot_shock"])))
    own = recommendation.filter(pl.col("is_portfolio_profile")).sort("rank")["template_id"].to_list()
    templates = sorted(set(today["template_id"]),
                       key=lambda template: (own.index(template) if template in own else len(own),
                                             names.get(template, template)))
    ltv = {(row["template_id"], row["spot_shock"]): row["hedged_ltv"] for row in today.iter_rows(named=True)}
    unhedged = dict(today.group_by("spot_shock").agg(pl.col("unhedged_ltv").first()).iter_rows())
    rows = [ScenarioRow(names.get(template, template), tuple(ltv.get((template, spot)) for spot in spot_shocks), False)
            for template in templates]
    if templates:
        rows.append(ScenarioRow(UNHEDGED_NAME, tuple(unhedged.get(spot) for spot in spot_shocks), True))
    return ScenarioGrid(as_of=today["as_of"][0] if today.height else None, spot_shocks=spot_shocks, rows=tuple(rows))


@dataclass(frozen=True, eq=False)
class SelloffView:
    """The report shaped for its template."""

    report: SelloffReport
    panel: EventPanel
    comparison: tuple[EventOutcome, ...]
    scenarios: ScenarioGrid
    recommendations: tuple[ProfileRecommendation, ...]
    gld_chart: Markup | None
    paths_chart: Markup | None


def selloff_view(report: SelloffReport) -> SelloffView:
    names = dict(report.names) | {UNHEDGED: UNHEDGED_NAME}
    panel = event_panel(report.event, report.runs, report.paths, names)
    own_profiles = report.recommendation.filter(pl.col("is_portfolio_profile"))["risk_profile"]
    return SelloffView(
        report=report,
        panel=panel,
        comparison=event_outcome_rows(report.comparison, names) if report.comparison is not None else (),
        scenarios=scenario_grid(report.scenarios, report.recommendation, names),
        recommendations=_recommendations(report.recommendation, names, own_profiles[0] if own_profiles.len() else ""),
        gld_chart=svg_markup(gld_path_chart(panel.gld_path, width=CHART_WIDTH)) if panel.gld_path.height else None,
        paths_chart=(svg_markup(backtest_paths_chart(panel.ltv_paths, panel.margin_call_ltv, width=CHART_WIDTH,
                                                     height=200))
                     if panel.ltv_paths.height else None),
    )


def render_selloff_html(report: SelloffReport, templates_dir: Path) -> str:
    """The report as print-styled HTML with the charts inlined as SVG."""
    view = selloff_view(report)
    return template_environment(templates_dir).get_template(TEMPLATE).render(view=view, panel=view.panel)


def render_selloff_pdf(report: SelloffReport, out_path: Path, templates_dir: Path) -> Path:
    """Write the report's PDF to `out_path` atomically and return it."""
    pdf_bytes = weasyprint.HTML(string=render_selloff_html(report, templates_dir),
                                base_url=str(templates_dir)).write_pdf()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_path, pdf_bytes)
    return out_path


def selloff_pdf_name(event_id: str) -> str:
    """`selloff_<event_id>.pdf`; refuses ids unsafe in a file name."""
    if not _FILE_SAFE_ID.match(event_id):
        raise ValueError(f"event_id {event_id!r} cannot name a report file")
    return f"selloff_{event_id}.pdf"


def _content_digest(report: SelloffReport, templates_dir: Path) -> str:
    """sha256 of the report's HTML with the generation time fixed: equal digests, equal PDFs but for that time."""
    fixed = replace(report, generated_at=datetime(1970, 1, 1, tzinfo=timezone.utc))
    return hashlib.sha256(render_selloff_html(fixed, templates_dir).encode()).hexdigest()


def render_all_selloff_pdfs(data: DashboardData, reports_dir: Path, templates_dir: Path) -> list[Path]:
    """One PDF per event of analytics.backtest_events, in the table's order.

    A PDF whose content would not change (same digest as when it was written, kept in a hidden
    `.<name>.sha256` beside it) is left as it is: WeasyPrint is most of a report's time.
    """
    written = []
    for event_id in data.backtests.events["event_id"]:
        report = selloff_report(data, event_id)
        out_path = reports_dir / selloff_pdf_name(event_id)
        stamp = reports_dir / f".{out_path.name}.sha256"
        digest = _content_digest(report, templates_dir)
        if not (out_path.exists() and stamp.exists() and stamp.read_text() == digest):
            render_selloff_pdf(report, out_path, templates_dir)
            atomic_write_bytes(stamp, digest.encode())
        written.append(out_path)
    return written
