"""Shared fixtures for the pricing tests: QuantLib oracle (skipped without QuantLib) and the golden file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

GOLDEN_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "pricing_golden.json"


@pytest.fixture(scope="session")
def oracle():
    """QuantLib-backed pricer (tests/pricing/ql_oracle.py); skips the test when QuantLib is missing."""
    pytest.importorskip("QuantLib")
    from .ql_oracle import Oracle

    return Oracle()


@pytest.fixture(scope="session")
def ql_sets():
    """The seeded random set and the hard grid (needs QuantLib only for the oracle module import)."""
    pytest.importorskip("QuantLib")
    from . import ql_oracle

    return ql_oracle


@pytest.fixture(scope="session")
def golden() -> dict:
    """Frozen QuantLib outputs (tests/fixtures/pricing_golden.json)."""
    return json.loads(GOLDEN_PATH.read_text())


def golden_columns(cases: list[dict], fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Column arrays of the given input fields of golden cases."""
    return {f: np.array([c[f] for c in cases]) for f in fields}
