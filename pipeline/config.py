"""`portfolio.toml` -> a validated `Portfolio` (pydantic).

Every problem is reported at once, each naming the field and the bad value, and the file is
validated before any pipeline step writes anything.
"""

from __future__ import annotations

import math
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# How far a stated share count may differ from start_value / entry_price and still agree.
SHARE_AGREEMENT_TOLERANCE = 1e-6


class PortfolioConfigError(ValueError):
    """The portfolio file is invalid; `errors` lists one line per problem."""

    def __init__(self, path: Path | str, errors: list[str]) -> None:
        self.path = str(path)
        self.errors = errors
        listing = "\n".join(f"  - {line}" for line in errors)
        super().__init__(f"invalid portfolio file {self.path} ({len(errors)} problem(s)):\n{listing}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Collateral(_Strict):
    """Gold held as collateral, counted in GLD shares.

    Give either `shares`, or `start_value` and `entry_price` (shares = start_value / entry_price).
    Both ways at once must agree.
    """

    symbol: str = Field(default="GLD", pattern=r"^[A-Z][A-Z0-9.\-]{0,9}$")
    shares: float | None = Field(default=None, gt=0)
    start_value: float | None = Field(default=None, gt=0)
    entry_price: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_consistent_basis(self) -> Self:
        by_value = self.start_value is not None or self.entry_price is not None
        if by_value and (self.start_value is None or self.entry_price is None):
            missing = "entry_price" if self.entry_price is None else "start_value"
            raise ValueError(f"start_value and entry_price go together; {missing} is missing")
        if self.shares is None and not by_value:
            raise ValueError("give shares, or start_value with entry_price")
        if self.shares is not None and by_value:
            implied = self.start_value / self.entry_price  # type: ignore[operator]
            if not math.isclose(self.shares, implied, rel_tol=SHARE_AGREEMENT_TOLERANCE):
                raise ValueError(
                    f"shares={self.shares} contradicts start_value/entry_price="
                    f"{self.start_value}/{self.entry_price}={implied:.6f}"
                )
        return self

    @property
    def share_count(self) -> float:
        """GLD shares, whichever way the collateral was given."""
        if self.shares is not None:
            return self.shares
        return self.start_value / self.entry_price  # type: ignore[operator]


class Loan(_Strict):
    """The Lombard loan and the bank's margin-call rule."""

    amount: float = Field(gt=0)
    margin_call_ltv: float = Field(default=0.75, gt=0, lt=1)


class Portfolio(_Strict):
    """A Lombard loan against gold collateral, as configured in portfolio.toml."""

    name: str = Field(default="Gold Lombard loan", min_length=1, max_length=200)
    start_date: date
    collateral: Collateral
    loan: Loan


def _describe(error: dict[str, Any]) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(file)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{field}: required field is missing"
    if error["type"] == "extra_forbidden":
        return f"{field}: unknown field (value {error['input']!r})"
    return f"{field}: {message} (got {error['input']!r})"


def parse_portfolio(data: dict[str, Any], source: Path | str = "<portfolio>") -> Portfolio:
    """Validate an already-parsed TOML document."""
    try:
        return Portfolio.model_validate(data)
    except ValidationError as error:
        raise PortfolioConfigError(source, [_describe(e) for e in error.errors()]) from None


def load_portfolio(path: Path | str) -> Portfolio:
    """Read and validate a portfolio file; raises PortfolioConfigError listing every problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PortfolioConfigError(path, [f"file not found: {path}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise PortfolioConfigError(path, [f"not valid TOML: {error}"]) from None
    return parse_portfolio(data, path)
