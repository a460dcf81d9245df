"""Number formats shared by the pages, the PDF and the text summaries under the charts.

One module so a figure reads the same wherever it is shown; `None` (not computed) is "n/a".
"""

from __future__ import annotations


def format_pct(value: float | None, digits: int = 1) -> str:
    """0.6134 -> "61.3%"."""
    if value is None:
        return "n/a"
    return f"{value * 100:,.{digits}f}%"


def format_signed_pct(value: float | None, digits: int = 1) -> str:
    """A shock or a change, trailing zeros dropped: -0.1 -> "-10%", 0.025 -> "+2.5%", 0 -> "0%"."""
    if value is None:
        return "n/a"
    return f"{_signed(value * 100, digits)}%"


def format_vol_points(value: float | None) -> str:
    """A vol shock given as a decimal: 0.10 -> "+10 vol pts", -0.025 -> "-2.5 vol pts", 0 -> "0 vol pts"."""
    if value is None:
        return "n/a"
    return f"{_signed(value * 100, 1)} vol pts"


def _signed(number: float, digits: int) -> str:
    """+/- sign, at most `digits` decimals, no trailing zeros; zero unsigned."""
    text = f"{number:+,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text.lstrip("+-") == "0" else text


def format_usd(value: float | None, digits: int = 0) -> str:
    """250000 -> "$250,000"; negatives as "-$1,234"."""
    if value is None:
        return "n/a"
    sign = "-" if round(value, digits) < 0 else ""
    return f"{sign}${abs(value):,.{digits}f}"


def format_number(value: float | None, digits: int = 0) -> str:
    """1000 -> "1,000"."""
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"
