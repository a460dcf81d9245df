"""Altair charts for the dashboard, rendered offline with vl-convert.

The same Vega-Lite spec drives the interactive page (via the local Vega bundle) and the static
SVG of the no-script fallback and the PDF, so all show the same picture. Charts: LTV history
(overview, LTV history page, PDF), margin-call price against GLD (LTV history page), and for the
strategies page a payoff chart per template, the hedged-LTV heat map and
the protection-cost index history; for the backtests page and the selloff PDF, each event's LTV
paths (hedged and unhedged), the sweep's Pareto chart and GLD's path over an event.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import altair as alt
import polars as pl
import vl_convert as vlc
from markupsafe import Markup

from pipeline.publish.context import LevelKind, LtvLevel
from pipeline.publish.formatting import format_usd

LTV_COLOR = "#1f5f8b"
MARGIN_CALL_COLOR = "#c0392b"
EQUITY_COLOR = "#1e8449"
LEVEL_COLORS: dict[LevelKind, str] = {"warn": "#b9770e", "critical": "#d35400", "margin-call": MARGIN_CALL_COLOR}
LTV_SERIES = {"ltv": "LTV", "hedged_ltv": "LTV with hedges"}
PRICE_SERIES = {"gld_close": "GLD close", "margin_call_price": "Margin-call price",
                "hedged_margin_call_price": "Margin-call price with hedges"}
RANGE_PARAM = "range_days"
"""Vega signal of the ranged charts: show the last this many calendar days (the range buttons set it)."""
# Hedged-LTV cell colours: comfortable, at the margin call, far beyond it.
HEAT_RANGE = ("#d9efe1", "#fbe3a6", "#e8877d")
FONT_STACK = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"

Width = int | Literal["container"]


@dataclass(frozen=True)
class PageChart:
    """A chart as a page embeds it: the spec vegaEmbed draws (filling its box) and a static SVG
    shown when scripts do not run."""

    spec: dict[str, Any]
    svg: Markup


def page_chart(build: Callable[..., alt.TopLevelMixin]) -> PageChart:
    """Build the chart twice from `build(width=...)`: container-wide for the browser, fixed-width as SVG."""
    return PageChart(spec=chart_spec(build(width="container")), svg=svg_markup(build()))


def _house_style(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """Fonts, grid and frame shared by every chart."""
    return (
        chart.configure(font=FONT_STACK)
        .configure_view(stroke=None)
        .configure_axis(labelFontSize=11, titleFontSize=12, gridColor="#e6e9ee")
        .configure_legend(labelFontSize=11, titleFontSize=11)
    )


def vegalite_version() -> str:
    """The Vega-Lite "major.minor" that Altair emits, e.g. "6.4", for vl-convert."""
    major, minor, *_ = alt.SCHEMA_VERSION.lstrip("v").split(".")
    return f"{major}.{minor}"


def ltv_history_chart(
    history: pl.DataFrame, levels: tuple[LtvLevel, ...], *, width: Width = 640, height: int = 260
) -> alt.LayerChart:
    """LTV without and with the hedges over time, a labelled dashed rule at each level.

    `history` has date, ltv and hedged_ltv. The lines show the days within `RANGE_PARAM` days of the
    latest one (all of them by default), so the page's range buttons zoom by setting that signal.
    `width="container"` makes the browser chart fill its box; static renders (SVG for the PDF and
    the no-script fallback) need a fixed pixel width.
    """
    if history.is_empty():
        raise ValueError("cannot chart an empty LTV history")
    rows = _with_days_back(history.select("date", "ltv", "hedged_ltv").drop_nulls(["date", "ltv"]))
    long = rows.unpivot(index=["date", "days_back"], on=["hedged_ltv", "ltv"], variable_name="series",
                        value_name="value").with_columns(pl.col("series").replace(LTV_SERIES), pl.col("value").round(5))
    y = alt.Y("value:Q", title="Loan-to-value", scale=alt.Scale(zero=False, nice=True), axis=alt.Axis(format=".0%"))
    lines = (
        _ranged(alt.Chart(long), rows)
        .mark_line(strokeWidth=2)
        .encode(
            x=_date_axis(),
            y=y,
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom"),
                            scale=alt.Scale(domain=list(LTV_SERIES.values()), range=[LTV_COLOR, EQUITY_COLOR])),
            strokeDash=alt.StrokeDash("series:N", legend=None,
                                      scale=alt.Scale(domain=list(LTV_SERIES.values()), range=[[1, 0], [5, 3]])),
            tooltip=[alt.Tooltip("date:T", title="Date", format="%Y-%m-%d"), alt.Tooltip("series:N", title="Series"),
                     alt.Tooltip("value:Q", title="LTV", format=".1%")],
        )
    )
    layers = alt.layer(lines, *_level_rules(levels)).resolve_scale(color="independent")
    return _house_style(layers.properties(width=width, height=height))


def margin_call_chart(history: pl.DataFrame, *, width: Width = 640, height: int = 260) -> alt.LayerChart:
    """GLD close against the margin-call price, without and with the hedges (USD per share).

    `history` has date, gld_close, margin_call_price and hedged_margin_call_price (null on days the
    hedges cover the call: that line has a gap). Ranged like `ltv_history_chart`.
    """
    if history.is_empty():
        raise ValueError("cannot chart an empty margin-call history")
    rows = _with_days_back(history.select("date", *PRICE_SERIES))
    long = rows.unpivot(index=["date", "days_back"], on=list(PRICE_SERIES), variable_name="series",
                        value_name="price").with_columns(pl.col("series").replace(PRICE_SERIES), pl.col("price").round(2))
    names = list(PRICE_SERIES.values())
    lines = (
        _ranged(alt.Chart(long), rows)
        .mark_line(strokeWidth=2)
        .encode(
            x=_date_axis(),
            y=alt.Y("price:Q", title="USD per GLD share", scale=alt.Scale(zero=False), axis=alt.Axis(format="$,.0f")),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom", columns=2, labelLimit=320),
                            scale=alt.Scale(domain=names, range=[LTV_COLOR, MARGIN_CALL_COLOR, EQUITY_COLOR])),
            strokeDash=alt.StrokeDash("series:N", legend=None,
                                      scale=alt.Scale(domain=names, range=[[1, 0], [6, 4], [2, 2]])),
            tooltip=[alt.Tooltip("date:T", title="Date", format="%Y-%m-%d"), alt.Tooltip("series:N", title="Series"),
                     alt.Tooltip("price:Q", title="USD", format="$,.2f")],
        )
    )
    return _house_style(lines.properties(width=width, height=height))


def _with_days_back(rows: pl.DataFrame) -> pl.DataFrame:
    """Add `days_back`: calendar days before the latest date (0 on it), what the range filter tests."""
    return rows.sort("date").with_columns(days_back=(pl.col("date").max() - pl.col("date")).dt.total_days())


def _ranged(chart: alt.Chart, rows: pl.DataFrame) -> alt.Chart:
    """Show only the days with days_back < RANGE_PARAM; the parameter starts at the whole span."""
    span = alt.param(name=RANGE_PARAM, value=int(rows["days_back"].max()) + 1)
    return chart.add_params(span).transform_filter(f"datum.days_back < {RANGE_PARAM}")


def _date_axis() -> alt.X:
    return alt.X("date:T", title=None, axis=alt.Axis(labelAngle=0, tickCount=6, labelOverlap="greedy"))


def _level_rules(levels: tuple[LtvLevel, ...]) -> tuple[alt.Chart, alt.Chart]:
    """A dashed rule per level, labelled at the plot's right edge just above it."""
    frame = pl.DataFrame({"label": [f"{level.label} {level.ltv:.0%}" for level in levels],
                          "ltv": [level.ltv for level in levels], "kind": [level.kind for level in levels]})
    color = alt.Color("kind:N", legend=None, scale=alt.Scale(domain=list(LEVEL_COLORS), range=list(LEVEL_COLORS.values())))
    rules = alt.Chart(frame).mark_rule(strokeDash=[6, 4], strokeWidth=1.5).encode(y="ltv:Q", color=color)
    labels = (alt.Chart(frame).mark_text(align="right", baseline="bottom", dx=-4, dy=-3, fontWeight="bold")
              .encode(x=alt.value("width"), y="ltv:Q", text="label:N", color=color))
    return rules, labels


def payoff_chart(payoff: pl.DataFrame, *, width: Width = 460, height: int = 240) -> alt.LayerChart:
    """Hedge P/L and hedged equity (USD) over the GLD price, one line style per horizon.

    `payoff` has horizon (a label, legend in row order), gld_price, hedge_pnl, hedged_equity.
    """
    if payoff.is_empty():
        raise ValueError("cannot chart an empty payoff")
    horizons = payoff["horizon"].unique(maintain_order=True).to_list()
    long = (
        payoff.select("horizon", pl.col("gld_price").round(2), "hedge_pnl", "hedged_equity")
        .unpivot(index=["horizon", "gld_price"], variable_name="series", value_name="usd")
        .with_columns(pl.col("series").replace({"hedge_pnl": "Hedge P/L", "hedged_equity": "Hedged equity"}),
                      pl.col("usd").round(0))
    )
    lines = (
        alt.Chart(long)
        .mark_line(strokeWidth=2)
        .encode(
            x=alt.X("gld_price:Q", title="GLD price", scale=alt.Scale(zero=False),
                    axis=alt.Axis(format="$,.0f", tickCount=6, labelOverlap="greedy")),
            y=alt.Y("usd:Q", title="USD", axis=alt.Axis(format="$,.3~s")),
            color=alt.Color("series:N", title=None, scale=alt.Scale(range=[LTV_COLOR, EQUITY_COLOR]),
                            legend=alt.Legend(orient="bottom")),
            strokeDash=alt.StrokeDash("horizon:N", title=None,
                                      scale=alt.Scale(domain=horizons, range=[[1, 0], [6, 4], [2, 2]][: len(horizons)]),
                                      legend=alt.Legend(orient="bottom")),
            tooltip=[
                alt.Tooltip("series:N", title="Series"),
                alt.Tooltip("horizon:N", title="Horizon"),
                alt.Tooltip("gld_price:Q", title="GLD", format="$,.2f"),
                alt.Tooltip("usd:Q", title="USD", format="$,.0f"),
            ],
        )
    )
    zero = alt.Chart().mark_rule(color="#8a94a3", strokeWidth=1).encode(y=alt.datum(0))
    return _house_style(alt.layer(zero, lines).properties(width=width, height=height))


def hedged_ltv_heatmap(
    grid: pl.DataFrame, margin_call_ltv: float, *, width: Width = 640, row_height: int = 30
) -> alt.LayerChart:
    """Hedged LTV per template (rows, in frame order) and GLD move (columns).

    The colour scale turns amber at the margin-call LTV and red beyond it, and cells at or above the
    margin call are outlined and their label is bold, so the call reads without colour too.
    """
    if grid.is_empty():
        raise ValueError("cannot chart an empty hedged-LTV grid")
    names = grid["display_name"].unique(maintain_order=True).to_list()
    data = grid.with_columns(
        pl.col("hedged_ltv").round(4), (pl.col("hedged_ltv") >= margin_call_ltv).alias("at_margin_call")
    )
    low = min(float(data["hedged_ltv"].min()), margin_call_ltv * 0.8)
    high = max(float(data["hedged_ltv"].max()), margin_call_ltv * 1.2)
    x = alt.X("spot_shock:O", title="GLD move from today", axis=alt.Axis(format="+.1~%", labelAngle=0))
    y = alt.Y("display_name:N", title=None, sort=names, axis=alt.Axis(labelLimit=260))
    base = alt.Chart(data).encode(x=x, y=y)
    cells = base.mark_rect().encode(
        color=alt.Color("hedged_ltv:Q", title="Hedged LTV",
                        scale=alt.Scale(domain=[low, margin_call_ltv, high], range=list(HEAT_RANGE), clamp=True),
                        legend=alt.Legend(format=".0%", values=[low, margin_call_ltv, high], orient="bottom")),
        tooltip=[
            alt.Tooltip("display_name:N", title="Template"),
            alt.Tooltip("spot_shock:O", title="GLD move", format="+.1~%"),
            alt.Tooltip("hedged_ltv:Q", title="Hedged LTV", format=".1%"),
        ],
    )
    at_call = base.transform_filter(alt.datum.at_margin_call)
    below_call = base.transform_filter(~alt.datum.at_margin_call)
    outline = at_call.mark_rect(filled=False, stroke=MARGIN_CALL_COLOR, strokeWidth=2)
    label = alt.Text("hedged_ltv:Q", format=".0%")
    labels = below_call.mark_text(fontSize=11, color="#1c2430").encode(text=label)
    call_labels = at_call.mark_text(fontSize=11, color="#1c2430", fontWeight="bold").encode(text=label)
    return _house_style(
        alt.layer(cells, outline, labels, call_labels).properties(width=width, height=alt.Step(row_height))
    )


def protection_cost_chart(cost_index: pl.DataFrame, *, width: Width = 640, height: int = 220) -> alt.LayerChart:
    """Annualised cost of the index put over time; dots, coloured by source, mark the `real_chain` days."""
    if cost_index.is_empty():
        raise ValueError("cannot chart an empty protection-cost index")
    data = cost_index.select("date", "source", pl.col("cost_annualised_pct").round(5), "real_chain")
    x = alt.X("date:T", title=None, axis=alt.Axis(format="%Y", labelAngle=0, tickCount=8))
    y = alt.Y("cost_annualised_pct:Q", title="Cost per year", axis=alt.Axis(format=".0%"))
    tooltip = [
        alt.Tooltip("date:T", title="Date", format="%Y-%m-%d"),
        alt.Tooltip("cost_annualised_pct:Q", title="Cost per year", format=".2%"),
        alt.Tooltip("source:N", title="Source"),
    ]
    layers = [alt.Chart(data.drop("real_chain")).mark_line(color=LTV_COLOR, strokeWidth=1.5)
              .encode(x=x, y=y, tooltip=tooltip)]
    real_chain_days = data.filter(pl.col("real_chain")).drop("real_chain")
    if real_chain_days.height:
        layers.append(
            alt.Chart(real_chain_days).mark_circle(size=36, opacity=0.9)
            .encode(x=x, y=y, tooltip=tooltip,
                    color=alt.Color("source:N", title="Real chain", scale=alt.Scale(scheme="dark2"),
                                    legend=alt.Legend(orient="bottom")))
        )
    return _house_style(alt.layer(*layers).properties(width=width, height=height))


def chart_spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The chart's Vega-Lite spec as a plain dict (data inlined)."""
    return chart.to_dict()


def chart_spec_json(chart: alt.TopLevelMixin) -> str:
    """The chart's Vega-Lite spec as compact JSON (data inlined)."""
    return json.dumps(chart_spec(chart), separators=(",", ":"), sort_keys=True)


def chart_svg(chart: alt.TopLevelMixin) -> str:
    """Render the chart to a standalone SVG string offline (no JS, no network)."""
    return vlc.vegalite_to_svg(chart_spec(chart), vl_version=vegalite_version())


def svg_markup(chart: alt.TopLevelMixin) -> Markup:
    """The chart's SVG, safe to inline in a page: vl-convert escapes every text it draws
    (axis labels may be template names from the warehouse)."""
    return Markup(chart_svg(chart))


# Hedged policies' lines on the backtest charts; the unhedged line is ink-coloured and dashed.
POLICY_COLORS = ("#1f5f8b", "#1e8449", "#b9770e", "#8e44ad", "#16a085", "#d35400", "#2c3e50", "#7f8c8d",
                 "#c71585", "#6b8e23")
UNHEDGED_COLOR = "#1c2430"
SWEEP_KINDS = {"Swept policy": ("#8a94a3", 24, 0.55, "circle"), "Frontier": (LTV_COLOR, 45, 1.0, "circle"),
               "Optimum": (EQUITY_COLOR, 260, 1.0, "diamond")}  # colour, size, opacity, shape


def backtest_paths_chart(
    paths: pl.DataFrame, margin_call_ltv: float | None, *, width: Width = 640, height: int = 260
) -> alt.LayerChart:
    """Hedged LTV of each policy over an event, the unhedged LTV dashed, the margin call as a rule.

    `paths` has date, series (the legend label; legend in row order), ltv and unhedged (bool). The
    data goes into the spec one row per date with a short column per series (folded back by Vega and
    labelled through a lookup), so a long event costs a fraction of one row per point.
    """
    if paths.is_empty():
        raise ValueError("cannot chart empty backtest paths")
    labels = paths["series"].unique(maintain_order=True).to_list()
    keys = {label: f"s{i}" for i, label in enumerate(labels)}
    unhedged = set(paths.filter("unhedged")["series"])
    wide = (paths.select("date", pl.col("series").replace_strict(keys).alias("key"), pl.col("ltv").round(3))
            .pivot(on="key", index="date", values="ltv", aggregate_function="first").sort("date"))
    names = alt.InlineData(values=[{"key": key, "series": label} for label, key in keys.items()])
    hedged_colors = iter(POLICY_COLORS * (len(labels) // len(POLICY_COLORS) + 1))
    colors = [UNHEDGED_COLOR if label in unhedged else next(hedged_colors) for label in labels]
    dashes = [[5, 3] if label in unhedged else [1, 0] for label in labels]
    lines = (
        alt.Chart(wide)
        .transform_fold([key for key in keys.values() if key in wide.columns], as_=["key", "ltv"])
        .transform_lookup(lookup="key", from_=alt.LookupData(names, key="key", fields=["series"]))
        .mark_line(strokeWidth=1.8)
        .encode(
            x=_date_axis(),
            y=alt.Y("ltv:Q", title="Loan-to-value", scale=alt.Scale(zero=False, nice=True),
                    axis=alt.Axis(format=".0%")),
            color=alt.Color("series:N", title=None, scale=alt.Scale(domain=labels, range=colors),
                            legend=alt.Legend(orient="bottom", columns=2, labelLimit=200)),
            strokeDash=alt.StrokeDash("series:N", legend=None, scale=alt.Scale(domain=labels, range=dashes)),
            tooltip=[alt.Tooltip("date:T", title="Date", format="%Y-%m-%d"), alt.Tooltip("series:N", title="Policy"),
                     alt.Tooltip("ltv:Q", title="LTV", format=".1%")],
        )
    )
    rules = _level_rules((LtvLevel("Margin call", margin_call_ltv, "margin-call"),)) if margin_call_ltv else ()
    layers = alt.layer(lines, *rules).resolve_scale(color="independent")
    return _house_style(layers.properties(width=width, height=height))


def pareto_chart(
    points: pl.DataFrame, levels: tuple[LtvLevel, ...], *, width: Width = 640, height: int = 300
) -> alt.LayerChart:
    """Worst LTV over every event against the cost per year of each swept policy: the cloud faint,
    the frontier joined by a line, the optimum large, and a labelled rule per level.

    `points` has cost_annualised_pct, worst_max_ltv, policy_id and kind (a key of SWEEP_KINDS).
    """
    if points.is_empty():
        raise ValueError("cannot chart an empty sweep")
    data = points.with_columns(pl.col("cost_annualised_pct").round(4), pl.col("worst_max_ltv").round(3))
    kinds = list(SWEEP_KINDS)
    x = alt.X("cost_annualised_pct:Q", title="Hedge cost per year (full history)",
              scale=alt.Scale(zero=False, nice=True), axis=alt.Axis(format=".1%"))
    y = alt.Y("worst_max_ltv:Q", title="Worst LTV over every event", scale=alt.Scale(zero=False, nice=True),
              axis=alt.Axis(format=".0%"))
    tooltip = [alt.Tooltip("policy_id:N", title="Policy"), alt.Tooltip("cost_annualised_pct:Q", title="Cost per year",
                                                                       format=".2%"),
               alt.Tooltip("worst_max_ltv:Q", title="Worst LTV", format=".1%")]
    frontier = (alt.Chart(data.filter(pl.col("kind") != kinds[0]))
                .mark_line(color=LTV_COLOR, strokeWidth=1.5).encode(x=x, y=y, order="cost_annualised_pct:Q"))
    color = alt.Color("kind:N", title=None, legend=alt.Legend(orient="bottom"),
                      scale=alt.Scale(domain=kinds, range=[style[0] for style in SWEEP_KINDS.values()]))
    dots = [alt.Chart(data.filter(pl.col("kind") == kind))
            .mark_point(filled=True, size=size, opacity=opacity, shape=shape, aria=False)  # no label per point
            .encode(x=x, y=y, color=color, tooltip=tooltip)
            for kind, (_, size, opacity, shape) in SWEEP_KINDS.items()]
    optimum_label = (alt.Chart(data.filter(pl.col("kind") == kinds[2]))
                     .mark_text(align="left", dx=9, dy=-9, fontWeight="bold", color=EQUITY_COLOR)
                     .encode(x=x, y=y, text=alt.value("optimum")))
    layers = alt.layer(frontier, alt.layer(*dots), optimum_label, *_level_rules(levels)).resolve_scale(
        color="independent")
    return _house_style(layers.properties(width=width, height=height))


def gld_path_chart(path: pl.DataFrame, *, width: Width = 620, height: int = 150) -> alt.LayerChart:
    """GLD's close over an event, its lowest close marked and labelled (on the side with room).
    `path` has date, gld_close, oldest first."""
    if path.is_empty():
        raise ValueError("cannot chart an empty GLD path")
    data = path.select("date", pl.col("gld_close").round(2))
    low = data.filter(pl.col("gld_close") == pl.col("gld_close").min()).head(1)
    low = low.with_columns(label=pl.lit(f"low {format_usd(low['gld_close'][0], 2)} on {low['date'][0].isoformat()}"))
    in_second_half = low["date"][0] > data["date"][0] + (data["date"][-1] - data["date"][0]) / 2
    y = alt.Y("gld_close:Q", title="GLD close", scale=alt.Scale(zero=False), axis=alt.Axis(format="$,.0f"))
    line = alt.Chart(data).mark_line(color=LTV_COLOR, strokeWidth=1.8).encode(x=_date_axis(), y=y)
    marker = alt.Chart(low).mark_point(filled=True, size=50, color=MARGIN_CALL_COLOR).encode(x=_date_axis(), y=y)
    label = (alt.Chart(low).mark_text(align="right" if in_second_half else "left", dx=-6 if in_second_half else 6,
                                      dy=-8, baseline="bottom", color=MARGIN_CALL_COLOR)
             .encode(x=_date_axis(), y=y, text="label:N"))
    return _house_style(alt.layer(line, marker, label).properties(width=width, height=height))
