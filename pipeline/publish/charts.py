"""Altair charts for the dashboard, rendered offline with vl-convert.

The same Vega-Lite spec drives the interactive page (via the local Vega bundle) and
the static SVG embedded in the PDF, so both show the same picture.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import altair as alt
import polars as pl
import vl_convert as vlc

LTV_COLOR = "#1f5f8b"
MARGIN_CALL_COLOR = "#c0392b"
FONT_STACK = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"


def vegalite_version() -> str:
    """The Vega-Lite "major.minor" that Altair emits, e.g. "6.4", for vl-convert."""
    major, minor, *_ = alt.SCHEMA_VERSION.lstrip("v").split(".")
    return f"{major}.{minor}"


def ltv_history_chart(
    ltv: pl.DataFrame, *, width: int | Literal["container"] = 640, height: int = 260
) -> alt.LayerChart:
    """LTV over time with a labelled horizontal rule at the (latest) margin-call LTV.

    `width="container"` makes the browser chart fill its box; static renders
    (SVG for the PDF and the no-script fallback) need a fixed pixel width.
    """
    if ltv.is_empty():
        raise ValueError("cannot chart an empty LTV history")
    history = ltv.select("date", "ltv", "margin_call_ltv").drop_nulls(["date", "ltv"]).sort("date")
    margin_call_ltv = float(history["margin_call_ltv"].drop_nulls()[-1])
    y_max = max(float(history["ltv"].max()), margin_call_ltv) * 1.08

    y_scale = alt.Scale(domain=[0, y_max], nice=False)
    line = (
        alt.Chart(history)
        .mark_line(color=LTV_COLOR, strokeWidth=2)
        .encode(
            x=alt.X("date:T", title=None, axis=alt.Axis(format="%b %Y", labelAngle=0, tickCount=6)),
            y=alt.Y("ltv:Q", title="Loan-to-value", scale=y_scale, axis=alt.Axis(format=".0%")),
            tooltip=[
                alt.Tooltip("date:T", title="Date", format="%Y-%m-%d"),
                alt.Tooltip("ltv:Q", title="LTV", format=".1%"),
            ],
        )
    )
    rule = alt.Chart().mark_rule(color=MARGIN_CALL_COLOR, strokeDash=[6, 4], strokeWidth=1.5).encode(
        y=alt.datum(margin_call_ltv, type="quantitative", scale=y_scale)
    )
    # the label sits at the right edge, on the side of the rule the latest LTV is not on
    label_above = float(history["ltv"][-1]) < margin_call_ltv
    label = (
        alt.Chart()
        .mark_text(color=MARGIN_CALL_COLOR, align="right", baseline="bottom" if label_above else "top",
                   dx=-4, dy=-4 if label_above else 4, fontWeight="bold")
        .encode(
            x=alt.value("width"),  # right edge of the plot, whatever its width
            y=alt.datum(margin_call_ltv, type="quantitative"),
            text=alt.datum(f"Margin call {margin_call_ltv:.0%}"),
        )
    )
    return (
        alt.layer(line, rule, label)
        .properties(width=width, height=height)
        .configure(font=FONT_STACK)
        .configure_view(stroke=None)
        .configure_axis(labelFontSize=11, titleFontSize=12, gridColor="#e6e9ee")
    )


def chart_spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The chart's Vega-Lite spec as a plain dict (data inlined)."""
    return chart.to_dict()


def chart_spec_json(chart: alt.TopLevelMixin) -> str:
    """The chart's Vega-Lite spec as compact JSON (data inlined)."""
    return json.dumps(chart_spec(chart), separators=(",", ":"), sort_keys=True)


def chart_svg(chart: alt.TopLevelMixin) -> str:
    """Render the chart to a standalone SVG string offline (no JS, no network)."""
    return vlc.vegalite_to_svg(chart_spec(chart), vl_version=vegalite_version())
