"""The Option chain page: the latest snapshot (analytics.chain_latest), valued, one expiry at a time.

The first expiry's rows are inline in the page; every expiry is also written as its own JSON file
under `data/chain/`, which the page fetches when a filter needs it, so the page stays small however
many expiries are listed. Cells are formatted here (pipeline/publish/formatting.py), so the page's
script only places text; `source` is a column of every row and the page says when it is the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from pipeline.publish.formatting import format_number, format_pct

if TYPE_CHECKING:
    from pipeline.publish.data import DashboardData

CHAIN_DATA_DIR: Final = "data/chain"
MODEL_SOURCE: Final = "model"
DAYS_PER_YEAR: Final = 365.0
VOL_POINT: Final = 0.01  # vega is stored per 1.00 of vol; the page shows it per vol point
# (key, label) of the expiry windows, calls/puts and moneyness bands the page's filters offer.
EXPIRY_WINDOWS: Final = (("next", "Next expiry"), ("30", "30 days"), ("60", "60 days"), ("90", "90 days"),
                         ("all", "All"))
RIGHTS: Final = (("all", "Calls and puts"), ("C", "Calls"), ("P", "Puts"))
MONEYNESS_BANDS: Final = (("0.05", "±5% of spot"), ("0.1", "±10% of spot"), ("0.2", "±20% of spot"),
                          ("all", "all"))
DEFAULT_BAND: Final = "0.1"
COLUMNS: Final = ("Contract", "Source", "Type", "Strike", "Strike / spot", "Bid", "Ask", "Mid", "IV", "Delta",
                  "Gamma", "Theta / day", "Vega / vol pt", "Flags")


@dataclass(frozen=True)
class ChainExpiry:
    """One listed expiry and where its rows are published."""

    expiry: date
    days_to_expiry: int
    contracts: int

    @property
    def data_path(self) -> str:
        """Site-relative path of the expiry's JSON rows."""
        return f"{CHAIN_DATA_DIR}/{self.expiry.isoformat()}.json"


@dataclass(frozen=True, eq=False)
class ChainContext:
    """The chain page: the snapshot's expiries, the first one's rows and every expiry's JSON file."""

    snapshot_date: date | None
    """None before any chain was stored."""
    symbol: str | None
    sources: tuple[str, ...]
    spot: float | None
    expiries: tuple[ChainExpiry, ...]
    clean_contracts: int
    documents: dict[str, dict[str, Any]]
    """data_path -> the expiry's JSON document: {"expiry", "days_to_expiry", "rows"}."""

    windows: tuple[tuple[str, str], ...] = EXPIRY_WINDOWS
    rights: tuple[tuple[str, str], ...] = RIGHTS
    bands: tuple[tuple[str, str], ...] = MONEYNESS_BANDS
    default_band: str = DEFAULT_BAND
    columns: tuple[str, ...] = COLUMNS

    @property
    def has_chain(self) -> bool:
        return bool(self.expiries)

    @property
    def is_model(self) -> bool:
        """True when any row is a model quote (offline, or a live fetch that failed)."""
        return MODEL_SOURCE in self.sources

    @property
    def contracts(self) -> int:
        return sum(expiry.contracts for expiry in self.expiries)

    @property
    def page_data(self) -> dict[str, Any]:
        """The JSON block of the page: the expiry list and the first expiry's rows."""
        first = self.expiries[0] if self.expiries else None
        return {
            "expiries": [{"expiry": e.expiry.isoformat(), "days": e.days_to_expiry, "contracts": e.contracts,
                          "href": e.data_path} for e in self.expiries],
            "first": self.documents[first.data_path] if first else None,
        }

    @property
    def summary(self) -> str:
        """The snapshot in one sentence."""
        if not self.expiries:
            return "No option chain has been stored yet."
        first, last = self.expiries[0], self.expiries[-1]
        flagged = self.contracts - self.clean_contracts
        return (f"{self.contracts:,} contracts in {len(self.expiries)} expiries, {first.expiry.isoformat()} to "
                f"{last.expiry.isoformat()} ({first.days_to_expiry} to {last.days_to_expiry} days); "
                f"{self.clean_contracts:,} clean, {flagged:,} with a quality flag.")

    def files(self) -> dict[str, bytes]:
        """data_path -> compact JSON bytes, one file per expiry."""
        return {path: json.dumps(document, separators=(",", ":")).encode("utf-8")
                for path, document in self.documents.items()}


def build_chain_context(data: DashboardData) -> ChainContext:
    """Group analytics.chain_latest by expiry and format every row's cells."""
    chain = data.chain.sort("expiry", "option_right", "strike")
    if chain.is_empty():
        return ChainContext(snapshot_date=None, symbol=None, sources=(), spot=None, expiries=(), clean_contracts=0,
                            documents={})
    expiries = []
    documents = {}
    for (expiry,), rows in chain.group_by("expiry", maintain_order=True):
        listed = ChainExpiry(expiry=expiry, days_to_expiry=int(rows["days_to_expiry"][0]), contracts=rows.height)
        expiries.append(listed)
        documents[listed.data_path] = {"expiry": expiry.isoformat(), "days_to_expiry": listed.days_to_expiry,
                                       "rows": [_row(row) for row in rows.iter_rows(named=True)]}
    return ChainContext(
        snapshot_date=chain["snapshot_date"][0],
        symbol=chain["symbol"][0],
        sources=tuple(sorted(set(chain["source"]))),
        spot=chain["underlying_price"][0],
        expiries=tuple(expiries),
        clean_contracts=chain.filter(pl.col("quality_flags") == "").height,
        documents=documents,
    )


def _row(row: dict[str, Any]) -> dict[str, Any]:
    """A contract as the page's script shows it: the filter keys and the cells in COLUMNS order."""
    flags = row["quality_flags"].replace("_", " ") or "clean"
    if row["iv_reason"]:
        flags = f"{flags} (IV: {row['iv_reason_name'].replace('_', ' ')})"
    return {
        "right": row["option_right"],
        "moneyness": round(row["moneyness"], 4),
        "cells": [
            row["contract"],
            row["source"],
            "Call" if row["option_right"] == "C" else "Put",
            format_number(row["strike"], 2),
            format_pct(row["moneyness"]),
            format_number(row["bid"], 2),
            format_number(row["ask"], 2),
            format_number(row["mid"], 2),
            format_pct(row["iv"]),
            format_number(row["delta"], 3),
            format_number(row["gamma"], 4),
            format_number(_scaled(row["theta"], 1 / DAYS_PER_YEAR), 3),
            format_number(_scaled(row["vega"], VOL_POINT), 3),
            flags,
        ],
    }


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor
