"""`portfolio.toml` -> a validated `Portfolio` (pydantic).

Every problem is reported at once, each naming the field and the bad value, and the file is
validated before any pipeline step writes anything. Types are strict (TOML has real numbers,
booleans and dates: `shares = "1000"` or `contracts = true` is an error, not a conversion).
Cross-field checks (contradictions) collect all their problems before raising, so a file with
several of them lists them all.
"""

from __future__ import annotations

import codecs
import math
import tomllib
from datetime import date
from typing import Any, Final, Literal, Self

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.portfolio.gold_ounces import GLD_INCEPTION, gld_ounces_per_share
from pipeline.strategies.templates import FAMILIES, SYSTEM_TEMPLATE_IDS

# How far two stated collateral bases (shares, ounces, start_value / entry_price) may differ.
SHARE_AGREEMENT_TOLERANCE: Final = 1e-6
SHARES_PER_CONTRACT: Final = 100
MAX_SHARES: Final = 1e9  # the largest share count, stated (collateral.shares) or derived from another basis
SHOWN_VALUE_CHARS: Final = 200  # longer bad values are cut in error lines (their length is given)
RiskProfile = Literal["conservative", "balanced", "aggressive"]
_CROSS_FIELD: Final = "\x1f"  # separates field / message / value inside one cross-field problem


class PortfolioConfigError(ValueError):
    """The portfolio file is invalid; `errors` lists one line per problem."""

    def __init__(self, path: Path | str, errors: list[str]) -> None:
        self.path = str(path)
        self.errors = errors
        listing = "\n".join(f"  - {line}" for line in errors)
        super().__init__(f"invalid portfolio file {self.path} ({len(errors)} problem(s)):\n{listing}")


def _raise_problems(problems: list[tuple[str, str, Any]]) -> None:
    """Raise one ValueError carrying every (field, message, value) problem; `_describe` splits it."""
    if problems:
        raise ValueError("\n".join(_CROSS_FIELD.join((f, m, _shown(v))) for f, m, v in problems))


def _shown(value: Any) -> str:
    """How a bad value is quoted in an error: dates as in the TOML file, the rest as repr."""
    return _clipped(value.isoformat() if isinstance(value, date) else repr(value))


def _clipped(text: str) -> str:
    """`text`, or its start and its length when it is too long to be read in an error line."""
    if len(text) <= SHOWN_VALUE_CHARS:
        return text
    return f"{text[:SHOWN_VALUE_CHARS]}... ({len(text)} characters)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class Collateral(_Strict):
    """Gold pledged as collateral, held as GLD shares.

    Weight basis: `shares`, or `ounces` (troy ounces, converted with GLD's ounces per share on
    the portfolio's start date, see pipeline/portfolio/gold_ounces.py). Value basis:
    `start_value` with `entry_price` (shares = start_value / entry_price). Give a weight basis, a
    value basis, or both when they agree; `shares` and `ounces` together are ambiguous.
    """

    symbol: str = Field(default="GLD", pattern=r"^[A-Z][A-Z0-9.\-]{0,9}$")
    shares: float | None = Field(default=None, gt=0, le=MAX_SHARES)
    ounces: float | None = Field(default=None, gt=0, le=1e8)
    start_value: float | None = Field(default=None, gt=0, le=1e12)
    entry_price: float | None = Field(default=None, gt=0, le=1e6)

    @model_validator(mode="after")
    def _one_basis(self) -> Self:
        problems: list[tuple[str, str, Any]] = []
        if (self.start_value is None) != (self.entry_price is None):
            missing = "entry_price" if self.entry_price is None else "start_value"
            given = "start_value" if missing == "entry_price" else "entry_price"
            problems.append((missing, f"required together with {given}={getattr(self, given)!r}", None))
        if self.shares is not None and self.ounces is not None:
            problems.append(("ounces", f"give shares or ounces, not both (shares={self.shares})", self.ounces))
        if self.shares is None and self.ounces is None and self.start_value is None and self.entry_price is None:
            problems.append(("shares", "give shares, ounces, or start_value with entry_price", None))
        if self.ounces is not None and self.symbol != "GLD":
            problems.append(("ounces", f"ounces convert to GLD shares only; symbol is {self.symbol}", self.ounces))
        _raise_problems(problems)
        return self


class Loan(_Strict):
    """The Lombard loan and the bank's rules: margin call, forced liquidation, cure target."""

    amount: float = Field(gt=0, le=1e12)
    margin_call_ltv: float = Field(default=0.75, gt=0, lt=1)
    liquidation_ltv: float = Field(default=0.90, gt=0, lt=1)
    target_ltv: float = Field(default=0.60, gt=0, lt=1)

    @model_validator(mode="after")
    def _ltvs_ascend(self) -> Self:
        problems: list[tuple[str, str, Any]] = []
        if not self.target_ltv < self.margin_call_ltv:
            problems.append(("target_ltv", f"must be below margin_call_ltv={self.margin_call_ltv}", self.target_ltv))
        if not self.margin_call_ltv < self.liquidation_ltv:
            problems.append(
                ("liquidation_ltv", f"must be above margin_call_ltv={self.margin_call_ltv}", self.liquidation_ltv)
            )
        _raise_problems(problems)
        return self


class Alerts(_Strict):
    """Alert thresholds (LTV fractions), who gets the email, and how chatty alerts may be."""

    warn_ltv: float = Field(default=0.70, gt=0, lt=1)
    critical_ltv: float = Field(default=0.75, gt=0, lt=1)
    recipients: list[str] = Field(default_factory=list, max_length=50)
    cooldown_hours: float = Field(default=24.0, ge=0, le=24 * 365)
    """A condition re-entering within this long after it cleared is logged but not emailed."""
    hedge_expiry_days: int = Field(default=14, ge=0, le=365)
    """Warn when a held hedge has 0 < DTE <= this many calendar days left."""
    selloff_drawdown: float = Field(default=0.08, gt=0, lt=1)
    """A `selloff` starts when GLD closes this far (fraction) below its highest close of the lookback ..."""
    selloff_lookback_days: int = Field(default=60, ge=2, le=2000)
    """... the last this many trading days, the day itself included ..."""
    selloff_one_day_fall: float = Field(default=0.04, gt=0, lt=1)
    """... or when GLD falls this much (fraction) from one close to the next."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[tuple[str, str, Any]] = []
        if not self.warn_ltv < self.critical_ltv:
            problems.append(("warn_ltv", f"must be below critical_ltv={self.critical_ltv}", self.warn_ltv))
        for i, address in enumerate(self.recipients):
            if not _looks_like_email(address):
                problems.append((f"recipients.{i}", "not an email address like name@example.com", address))
        if len(set(self.recipients)) != len(self.recipients):
            problems.append(("recipients", "lists an address twice", list(self.recipients)))
        _raise_problems(problems)
        return self


class Triage(_Strict):
    """Rules that turn a held hedge into an action code (see pipeline/portfolio/positions.py)."""

    roll_dte: int = Field(default=21, ge=1, le=365)
    """ROLL when fewer calendar days than this remain."""
    harvest_multiple: float = Field(default=2.0, gt=1, le=100)
    """HARVEST when the position is worth at least this multiple of the premium paid."""


class Hedge(_Strict):
    """A held GLD option: `contracts` of 100 shares each, bought on `entry_date` for `premium` per share."""

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")
    right: Literal["put", "call"]
    strike: float = Field(gt=0, le=1e5)
    expiry: date
    contracts: int = Field(gt=0, le=100_000)
    entry_date: date
    premium: float = Field(gt=0, le=1e5)
    """USD per share paid (the quote); the position cost is premium * 100 * contracts."""

    @model_validator(mode="after")
    def _entered_before_expiry(self) -> Self:
        problems: list[tuple[str, str, Any]] = []
        if self.entry_date > self.expiry:
            problems.append(("entry_date", f"is after expiry={self.expiry.isoformat()}", self.entry_date))
        if self.entry_date < GLD_INCEPTION:
            problems.append(("entry_date", f"is before GLD existed ({GLD_INCEPTION.isoformat()})", self.entry_date))
        _raise_problems(problems)
        return self

    @property
    def position_id(self) -> str:
        """`id`, or a readable default such as `put-380-2026-12-18`."""
        return self.id or f"{self.right}-{self.strike:g}-{self.expiry.isoformat()}"


class StrategyLeg(_Strict):
    """One leg of a user template: a target the leg picker matches to a listed contract."""

    right: Literal["put", "call"]
    side: Literal["long", "short"] = "long"
    moneyness: float = Field(gt=0.2, le=3.0)
    """Target strike / spot (0.95 = 5 % below spot)."""
    tenor_days: int = Field(default=91, ge=7, le=1100)
    tenor_min_days: int | None = Field(default=None, ge=1, le=1100)
    tenor_max_days: int | None = Field(default=None, ge=1, le=1100)
    weight: float = Field(default=1.0, gt=0, le=1.0)
    """Share of the collateral this leg covers."""

    @model_validator(mode="after")
    def _window(self) -> Self:
        problems: list[tuple[str, str, Any]] = []
        if self.tenor_min_days is not None and self.tenor_min_days > self.tenor_days:
            problems.append(("tenor_min_days", f"must not exceed tenor_days={self.tenor_days}", self.tenor_min_days))
        if self.tenor_max_days is not None and self.tenor_max_days < self.tenor_days:
            problems.append(("tenor_max_days", f"must not be below tenor_days={self.tenor_days}", self.tenor_max_days))
        _raise_problems(problems)
        return self


class StrategyTemplateConfig(_Strict):
    """A user hedge template (`[[strategies]]`), compared and ranked beside the system ones."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    display_name: str | None = Field(default=None, min_length=1, max_length=80)
    family: str = "custom"
    description: str = Field(default="", max_length=300)
    roll_dte: int = Field(default=21, ge=0, le=365)
    legs: list[StrategyLeg] = Field(min_length=1, max_length=6)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[tuple[str, str, Any]] = []
        if self.id in SYSTEM_TEMPLATE_IDS:
            problems.append(("id", "is a system template id; choose another", self.id))
        if self.family not in FAMILIES:
            problems.append(("family", f"must be one of {', '.join(FAMILIES)}", self.family))
        for side in ("long", "short"):
            for right in ("put", "call"):
                total = sum(leg.weight for leg in self.legs if leg.side == side and leg.right == right)
                if total > 1.0 + 1e-9:
                    problems.append(("legs", f"{side} {right} weights add up to {total:g}, above 1 (the collateral)",
                                     total))
        if not any(leg.side == "long" for leg in self.legs):
            problems.append(("legs", "needs at least one long leg (a hedge buys protection)", len(self.legs)))
        _raise_problems(problems)
        return self


class StrategySettings(_Strict):
    """How the strategy engine ranks templates and grades protection cost and tail risk."""

    conservative_max_cost_annual: float = Field(default=0.08, gt=0, le=1)
    """Conservative: the largest absorbed fall among templates costing at most this a year (fraction)."""
    aggressive_min_fall: float = Field(default=0.15, gt=0, lt=1)
    """Aggressive: the cheapest template that still lets gold fall this far before the call."""
    signal_discount_below: float = Field(default=-0.10, gt=-1, lt=0)
    """NVRP = atm_iv_30d / hv20 - 1 below this: protection is cheap (DISCOUNT)."""
    signal_rich_above: float = Field(default=0.20, gt=0, le=10)
    """NVRP above this: protection is rich (RICH)."""
    tail_spot_shocks: list[float] = Field(default_factory=lambda: [-0.05, -0.10, -0.20, -0.30],
                                          min_length=1, max_length=20)
    tail_vol_shocks: list[float] = Field(default_factory=lambda: [0.10, 0.20], max_length=20)
    tail_loaded_above: float = Field(default=0.05, gt=0, lt=10)
    """Tail risk (worst stress loss / equity) above this is Loaded ..."""
    tail_extreme_above: float = Field(default=0.15, gt=0, le=10)
    """... and above this Extreme."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[tuple[str, str, Any]] = []
        if not self.tail_loaded_above < self.tail_extreme_above:
            problems.append(("tail_loaded_above", f"must be below tail_extreme_above={self.tail_extreme_above}",
                             self.tail_loaded_above))
        for i, shock in enumerate(self.tail_spot_shocks):
            if not -1 < shock < 1:
                problems.append((f"tail_spot_shocks.{i}", "must be a fraction between -1 and 1", shock))
        for i, shock in enumerate(self.tail_vol_shocks):
            if not -1 < shock <= 2:
                problems.append((f"tail_vol_shocks.{i}", "must be a vol change between -1 and 2", shock))
        _raise_problems(problems)
        return self


class BacktestEvent(_Strict):
    """A user's own backtest window (`[[backtest.events]]`), beside the presets of pipeline/backtest/events.py."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str | None = Field(default=None, min_length=1, max_length=80)
    start: date
    end: date

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.start < self.end:
            _raise_problems([("end", f"must be after start={self.start.isoformat()}", self.end)])
        return self


class BacktestSettings(_Strict):
    """How backtests replay hedges (pipeline/backtest/, docs/backtests.md)."""

    initial_ltv: float | None = Field(default=None, gt=0, lt=1)
    """LTV on each event's start day; None: the portfolio's latest LTV. Exclusive with `loan`."""
    loan: float | None = Field(default=None, gt=0, le=1e12)
    """A fixed loan (USD) instead of an initial LTV."""
    cure: Literal["none", "target"] = "none"
    """On a margin call: 'none' records the breach; 'target' pays the loan down to loan.target_ltv."""
    tail_days: int = Field(default=20, ge=0, le=750)
    """Trading days the path runs past each event's end day."""
    hedge_ratio: float = Field(default=1.0, gt=0, le=1)
    """Share of the collateral the named templates cover."""
    budget_cap: float | None = Field(default=None, gt=0, le=1)
    """Premium paid per rolling 365 days, as a fraction of the collateral value, at most this."""
    provider: Literal["synthetic", "snapshots", "mixed"] = "mixed"
    alma_window: int = Field(default=50, ge=2, le=500)
    alma_offset: float = Field(default=0.85, ge=0, le=1)
    alma_sigma: float = Field(default=6.0, gt=0, le=100)
    ltv_buffer: float = Field(default=0.05, ge=0, lt=1)
    """The optimizer's pick keeps every event's worst LTV this far below the margin call."""
    mc_paths: int = Field(default=100_000, ge=1_000, le=10_000_000)
    mc_seed: int = Field(default=20260129, ge=0, le=2**63 - 1)
    mc_mean_block_days: float = Field(default=20.0, ge=1, le=500)
    events: list[BacktestEvent] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[tuple[str, str, Any]] = []
        if self.initial_ltv is not None and self.loan is not None:
            problems.append(("loan", f"give initial_ltv={self.initial_ltv} or loan, not both", self.loan))
        ids = [event.id for event in self.events]
        for i, event_id in enumerate(ids):
            if event_id in ids[:i]:
                problems.append((f"events.{i}.id", "is used twice", event_id))
        _raise_problems(problems)
        return self


class Portfolio(_Strict):
    """A Lombard loan against gold collateral, with its hedges and alerting, as in portfolio.toml."""

    name: str = Field(default="Gold Lombard loan", min_length=1, max_length=200)
    start_date: date
    risk_profile: RiskProfile = "balanced"
    """Stored for the recommendation step: how much cost the owner accepts for protection."""
    collateral: Collateral
    loan: Loan
    alerts: Alerts = Field(default_factory=Alerts)
    triage: Triage = Field(default_factory=Triage)
    hedges: list[Hedge] = Field(default_factory=list, max_length=200)
    strategy: StrategySettings = Field(default_factory=StrategySettings)
    strategies: list[StrategyTemplateConfig] = Field(default_factory=list, max_length=50)
    backtest: BacktestSettings = Field(default_factory=BacktestSettings)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[tuple[str, str, Any]] = []
        c = self.collateral
        if c.symbol == "GLD" and self.start_date < GLD_INCEPTION:
            problems.append(("start_date", f"is before GLD existed ({GLD_INCEPTION.isoformat()})", self.start_date))
        elif c.shares is not None or c.ounces is not None:
            if c.start_value is not None and c.entry_price is not None:
                implied = c.start_value / c.entry_price
                weight = self.share_count
                if not math.isclose(weight, implied, rel_tol=SHARE_AGREEMENT_TOLERANCE):
                    field = "collateral.shares" if c.shares is not None else "collateral.ounces"
                    stated = c.shares if c.shares is not None else c.ounces
                    problems.append((field, f"means {weight:.6f} shares but start_value/entry_price = "
                                            f"{c.start_value}/{c.entry_price} = {implied:.6f} shares", stated))
        if c.shares is None and not problems:
            # ounces or start_value / entry_price: each within bounds, but the share count they
            # imply may still under- or overflow (5e-324 / 1e6 is 0.0 shares)
            derived = self.share_count
            if not (math.isfinite(derived) and 0 < derived <= MAX_SHARES):
                field, stated = (("collateral.ounces", c.ounces) if c.ounces is not None
                                 else ("collateral.start_value", c.start_value))
                problems.append((field, f"means {derived:g} GLD shares; the share count must be above 0 "
                                        f"and at most {MAX_SHARES:g}", stated))
        if self.alerts.critical_ltv > self.loan.liquidation_ltv:
            problems.append(("alerts.critical_ltv", f"must not exceed loan.liquidation_ltv={self.loan.liquidation_ltv}",
                             self.alerts.critical_ltv))
        ids = [hedge.position_id for hedge in self.hedges]
        for i, hedge in enumerate(self.hedges):
            if ids.count(hedge.position_id) > 1:
                problems.append((f"hedges.{i}.id", "repeats another hedge's id; give each hedge a distinct id",
                                 hedge.position_id))
        template_ids = [template.id for template in self.strategies]
        for i, template in enumerate(self.strategies):
            if template_ids.count(template.id) > 1:
                problems.append((f"strategies.{i}.id", "repeats another strategy's id", template.id))
        _raise_problems(problems)
        return self

    @property
    def share_count(self) -> float:
        """GLD shares pledged, whichever basis the file used."""
        c = self.collateral
        if c.shares is not None:
            return c.shares
        if c.ounces is not None:
            return c.ounces / gld_ounces_per_share(self.start_date)
        return c.start_value / c.entry_price  # type: ignore[operator]  # validated: both set

    @property
    def start_ounces(self) -> float | None:
        """Troy ounces behind the pledged shares on the start date (GLD only)."""
        if self.collateral.symbol != "GLD":
            return None
        return self.share_count * gld_ounces_per_share(self.start_date)

    @property
    def collateral_basis(self) -> str:
        """Which basis the file gave: 'shares', 'ounces' or 'value' (weight wins when both agree)."""
        c = self.collateral
        return "shares" if c.shares is not None else "ounces" if c.ounces is not None else "value"


def _looks_like_email(address: str) -> bool:
    local, at, domain = address.partition("@")
    return bool(at and local and "." in domain.strip(".") and not any(ch.isspace() for ch in address)
                and "@" not in domain and len(address) <= 254)


def _path_part(part: str | int) -> str:
    """One step of an error's dotted path; keys that are not plain names (an unknown key with a
    dot, a space or a newline in it) are quoted so that the path stays one readable line."""
    text = str(part)
    return text if text and all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in text) else repr(text)


def _describe(error: dict[str, Any]) -> list[str]:
    loc = ".".join(_path_part(part) for part in error["loc"])
    field = loc or "(file)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return [f"{field}: required field is missing"]
    if error["type"] == "extra_forbidden":
        return [f"{field}: unknown field (value {_shown(error['input'])})"]
    if error["type"] == "float_type" and type(error["input"]) is int:
        message = "Input should be a number, but this integer is too large for one (above 1.8e308)"
    if _CROSS_FIELD in message:
        lines = []
        for problem in message.split("\n"):
            name, text, value = problem.split(_CROSS_FIELD)
            qualified = f"{loc}.{name}" if loc else name
            lines.append(f"{qualified}: {text} (got {value})")
        return lines
    return [f"{field}: {message} (got {_clipped(repr(error['input']))})"]


def parse_portfolio(data: dict[str, Any], source: Path | str = "<portfolio>") -> Portfolio:
    """Validate an already-parsed TOML document."""
    try:
        return Portfolio.model_validate(data)
    except ValidationError as error:
        raise PortfolioConfigError(source, [line for e in error.errors() for line in _describe(e)]) from None


def load_portfolio(path: Path | str) -> Portfolio:
    """Read and validate a portfolio file; raises PortfolioConfigError listing every problem.

    Problems with the file itself (missing, unreadable, not UTF-8, not TOML) are one line each,
    starting with `(file):`. A UTF-8 byte-order mark (as some Windows editors write) is accepted.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PortfolioConfigError(path, [f"(file): file not found: {path}"]) from None
    except IsADirectoryError:
        raise PortfolioConfigError(path, [f"(file): is a directory, not a file: {path}"]) from None
    except OSError as error:
        raise PortfolioConfigError(path, [f"(file): cannot be read: {error.strerror or error}"]) from None
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        line = body[:error.start].count(b"\n") + 1
        offset = error.start + len(raw) - len(body)
        raise PortfolioConfigError(path, [f"(file): not UTF-8 text: byte {body[error.start]:#04x} at line {line} "
                                          f"(byte offset {offset}): {error.reason}; save the file as UTF-8"]
                                   ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PortfolioConfigError(path, [f"(file): not valid TOML: {error}"]) from None
    except RecursionError:
        raise PortfolioConfigError(path, ["(file): cannot be parsed: arrays or inline tables nested too "
                                          "deeply"]) from None
    return parse_portfolio(data, path)
