"""Where a backtest's option prices come from: one interface, three providers.

A provider answers two questions, both with data known on the day asked only:
- `contracts(leg)`: if this leg were bought on day d, which contract (strike, expiry)? One answer per
  day of the market (NaN strike: nothing to buy that day).
- `marks(requests)`: mid, bid and ask of given contracts on every day they are held.

Providers (docs/backtests.md "Price providers"):
- `synthetic`: the contract is struck at moneyness x that day's close and expires on the last
  trading day within tenor_days; it is marked each day at its own remaining time and moneyness by
  the American kernel at that day's ATM vol + skew model and 3-month rate (the inputs of
  `analytics.synthetic_chain_daily`), bid/ask from the chain spread model (`model_bid_ask`), and
  worth exactly its intrinsic value on the expiry day (bid = ask = mid).
  Limits: a model, not quotes; expiries are not the listed ones; the vol is GVZ (or scaled
  realised vol before 2008-06) with a fixed skew, so rich or cheap protection is only as
  visible as GVZ makes it.
- `snapshots`: the contract is the one the strategy engine's leg picker chooses from that day's
  stored market chain (`analytics.option_valuations`, vendor rows only, never model rows), marked at
  the quote's mid/bid/ask on days it is quoted and carried at its last quote otherwise.
  Limits: only days with stored vendor snapshots can open a hedge, so history is as long as our
  accumulated snapshots (none in the embedded data).
- `mixed`: snapshots where the day has them and they quote the contract, synthetic otherwise; each
  day's mark says which (`price_source`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final, Literal, Protocol

import numpy as np
import polars as pl

from pipeline.portfolio.positions import kernel_price
from pipeline.pricing.chain import DAYS_PER_YEAR, model_bid_ask
from pipeline.strategies.legs import pick_leg, skip_reason
from pipeline.strategies.templates import Leg

ProviderName = Literal["synthetic", "snapshots", "mixed"]
PROVIDERS: Final = ("synthetic", "snapshots", "mixed")
SOURCE_NONE, SOURCE_SYNTHETIC, SOURCE_SNAPSHOT, SOURCE_CARRIED = 0, 1, 2, 3
SOURCE_NAMES: Final = ("none", "synthetic", "snapshot", "snapshot_carried")
BEYOND_DATA: Final = np.iinfo(np.int64).max // 4  # expiry index of a contract expiring after the last close
EPOCH: Final = date(1970, 1, 1)


@dataclass(frozen=True)
class Market:
    """Every GLD trading day as arrays: the inputs a provider may use for day i are those at i."""

    dates: np.ndarray  # datetime64[D]
    day_ord: np.ndarray  # int64 days since 1970-01-01
    close: np.ndarray
    atm_vol: np.ndarray
    rate: np.ndarray

    @classmethod
    def from_surface(cls, surface: pl.DataFrame) -> Market:
        """From `pipeline.portfolio.positions.market_surface` rows (date, close, atm_vol, rate)."""
        rows = surface.sort("date")
        bad = rows.filter(~(pl.col("close") > 0) | pl.col("atm_vol").is_null() | ~(pl.col("atm_vol") > 0))
        if bad.height:
            first = bad.row(0, named=True)
            raise ValueError(f"market: close={first['close']!r}, atm_vol={first['atm_vol']!r} on {first['date']}: "
                             "a backtest needs a positive close and ATM vol every day")
        dates = rows["date"].to_numpy().astype("datetime64[D]")
        return cls(dates, dates.astype(np.int64), rows["close"].to_numpy().astype(np.float64),
                   rows["atm_vol"].to_numpy().astype(np.float64), rows["rate"].to_numpy().astype(np.float64))

    @property
    def size(self) -> int:
        return int(self.close.size)

    def index_on_or_after(self, day: date) -> int:
        """First trading-day index on or after `day` (size when none)."""
        return int(np.searchsorted(self.day_ord, (day - EPOCH).days, side="left"))

    def index_on_or_before(self, day: date) -> int:
        """Last trading-day index on or before `day` (-1 when none)."""
        return int(np.searchsorted(self.day_ord, (day - EPOCH).days, side="right")) - 1

    def day(self, index: int) -> date:
        return date.fromordinal(EPOCH.toordinal() + int(self.day_ord[index]))


@dataclass(frozen=True)
class LegContracts:
    """What buying one leg on each day would buy: strike (NaN: nothing), expiry day and its index."""

    strike: np.ndarray
    expiry_ord: np.ndarray  # int64 days since 1970-01-01
    expiry_idx: np.ndarray  # trading-day index settling it (BEYOND_DATA: after the last close)


@dataclass(frozen=True)
class MarkRequest:
    """Contracts to mark: each held from day first[i] to last[i] (inclusive)."""

    is_call: np.ndarray
    strike: np.ndarray
    expiry_ord: np.ndarray
    first: np.ndarray
    last: np.ndarray


@dataclass(frozen=True)
class Marks:
    """Flat marks of a MarkRequest: request i's day d is at offset[i] + d - first[i]."""

    offset: np.ndarray
    mid: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    source: np.ndarray  # int8 SOURCE_* per mark


class PriceProvider(Protocol):
    """The interface every provider implements (see the module docstring)."""

    name: str
    market: Market

    def contracts(self, leg: Leg) -> LegContracts: ...

    def marks(self, request: MarkRequest) -> Marks: ...


def _flat_days(request: MarkRequest) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offset per request, request index per mark, day index per mark)."""
    lengths = request.last - request.first + 1
    offset = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    owner = np.repeat(np.arange(lengths.size), lengths)
    day = request.first[owner] + np.arange(int(lengths.sum())) - offset[owner]
    return offset, owner, day


def synthetic_expiries(market: Market, tenor_days: int) -> tuple[np.ndarray, np.ndarray]:
    """(expiry_ord, expiry_idx) of a contract bought each day: the last trading day within tenor_days."""
    target = market.day_ord + tenor_days
    idx = np.searchsorted(market.day_ord, target, side="right") - 1
    beyond = target > market.day_ord[-1]
    expiry_idx = np.where(beyond, BEYOND_DATA, idx)
    expiry_ord = np.where(beyond, target, market.day_ord[np.minimum(idx, market.size - 1)])
    return expiry_ord.astype(np.int64), expiry_idx.astype(np.int64)


@dataclass(frozen=True)
class SyntheticProvider:
    """Model contracts and American-kernel marks from the day's close, ATM vol, skew and rate."""

    market: Market
    name: str = "synthetic"

    def contracts(self, leg: Leg) -> LegContracts:
        expiry_ord, expiry_idx = synthetic_expiries(self.market, leg.tenor_days)
        return LegContracts(leg.moneyness * self.market.close, expiry_ord, expiry_idx)

    def marks(self, request: MarkRequest) -> Marks:
        offset, owner, day = _flat_days(request)
        m = self.market
        spot = m.close[day]
        strike = request.strike[owner]
        is_call = request.is_call[owner]
        t = (request.expiry_ord[owner] - m.day_ord[day]) / DAYS_PER_YEAR
        intrinsic = np.where(is_call, np.maximum(spot - strike, 0.0), np.maximum(strike - spot, 0.0))
        mid = intrinsic.copy()
        live = t > 0
        if live.any():
            mid[live] = kernel_price(is_call[live], spot[live], strike[live], t[live], m.rate[day][live],
                                     m.atm_vol[day][live])
        bid, ask = model_bid_ask(mid, np.maximum(t, 0.0))
        bid = np.where(live, bid, intrinsic)
        ask = np.where(live, ask, intrinsic)
        return Marks(offset, mid, bid, ask, np.full(mid.size, SOURCE_SYNTHETIC, dtype=np.int8))


@dataclass(frozen=True)
class SnapshotProvider:
    """Listed contracts from stored vendor chains; `mixed` falls back to the synthetic provider.

    `chains`: `analytics.option_valuations` rows (model rows are dropped here: they are not
    observations). A contract is chosen on day d from day d's chain only (`pick_leg`, the strategy
    engine's picker), so nothing after d can change it.
    """

    market: Market
    chains: pl.DataFrame
    fallback: SyntheticProvider | None = None
    name: str = "snapshots"

    def __post_init__(self) -> None:
        vendor = self.chains.filter(pl.col("source") != "model") if self.chains.height else self.chains
        object.__setattr__(self, "chains", vendor)
        days = vendor["snapshot_date"].unique().to_list() if vendor.height else []
        ords = np.array([(d - EPOCH).days for d in days], dtype=np.int64)
        position = np.searchsorted(self.market.day_ord, ords)
        on_market = [(int(p), d) for p, o, d in zip(position, ords, days)
                     if p < self.market.size and self.market.day_ord[p] == o]
        object.__setattr__(self, "_days", dict(on_market))

    def contracts(self, leg: Leg) -> LegContracts:
        n = self.market.size
        if self.fallback is not None:
            base = self.fallback.contracts(leg)
            strike, expiry_ord, expiry_idx = base.strike.copy(), base.expiry_ord.copy(), base.expiry_idx.copy()
        else:
            strike = np.full(n, np.nan)
            expiry_ord = np.zeros(n, dtype=np.int64)
            expiry_idx = np.full(n, BEYOND_DATA, dtype=np.int64)
        for i, day in self._days.items():  # type: ignore[attr-defined]
            chain = self.chains.filter(pl.col("snapshot_date") == day)
            row, _ = pick_leg(chain, leg, float(self.market.close[i]))
            if row is None:
                continue
            strike[i] = float(row["strike"])
            expiry_ord[i] = (row["expiry"] - EPOCH).days
            settle = int(np.searchsorted(self.market.day_ord, expiry_ord[i], side="right")) - 1
            expiry_idx[i] = BEYOND_DATA if expiry_ord[i] > self.market.day_ord[-1] else settle
        return LegContracts(strike, expiry_ord, expiry_idx)

    def _quotes(self) -> dict[tuple[int, bool, int, float], tuple[float, float, float]]:
        usable = [row for row in self.chains.iter_rows(named=True) if skip_reason(row) is None]
        return {(int(np.searchsorted(self.market.day_ord, (r["snapshot_date"] - EPOCH).days)),
                 r["option_right"] == "C", (r["expiry"] - EPOCH).days, round(float(r["strike"]), 4)):
                (float(r["mid"]), float(r["bid"]), float(r["ask"])) for r in usable}

    def marks(self, request: MarkRequest) -> Marks:
        offset, owner, day = _flat_days(request)
        size = day.size
        if self.fallback is not None:
            base = self.fallback.marks(request)
            mid, bid, ask, source = base.mid.copy(), base.bid.copy(), base.ask.copy(), base.source.copy()
        else:
            mid, bid, ask = np.full(size, np.nan), np.full(size, np.nan), np.full(size, np.nan)
            source = np.full(size, SOURCE_NONE, dtype=np.int8)
        quotes = self._quotes()
        m = self.market
        for j in range(size):
            i = owner[j]
            key = (int(day[j]), bool(request.is_call[i]), int(request.expiry_ord[i]), round(float(request.strike[i]), 4))
            expired = request.expiry_ord[i] <= m.day_ord[day[j]]
            if key in quotes and not expired:
                mid[j], bid[j], ask[j] = quotes[key]
                source[j] = SOURCE_SNAPSHOT
            elif self.fallback is None:
                spot, strike = m.close[day[j]], request.strike[i]
                if expired:
                    value = max(spot - strike, 0.0) if request.is_call[i] else max(strike - spot, 0.0)
                    mid[j] = bid[j] = ask[j] = value
                    source[j] = SOURCE_SNAPSHOT
                elif j > offset[i]:  # carry the last mark of this contract
                    mid[j], bid[j], ask[j] = mid[j - 1], bid[j - 1], ask[j - 1]
                    source[j] = SOURCE_CARRIED
        return Marks(offset, mid, bid, ask, source)


def make_provider(name: ProviderName, market: Market, chains: pl.DataFrame | None = None) -> PriceProvider:
    """The named provider over `market` (`chains`: stored valuations, for snapshots and mixed)."""
    if name == "synthetic":
        return SyntheticProvider(market)
    if name not in PROVIDERS:
        raise ValueError(f"provider={name!r}: expected one of {PROVIDERS}")
    empty = pl.DataFrame(schema={"snapshot_date": pl.Date, "source": pl.String})
    frame = chains if chains is not None else empty
    if name == "snapshots":
        return SnapshotProvider(market, frame)
    return SnapshotProvider(market, frame, fallback=SyntheticProvider(market), name="mixed")
