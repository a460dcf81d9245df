"""Option pricing for the vault dashboard: European/American price, Greeks and implied vol.

Numba kernels are cached on disk in ``<repo>/.numba_cache`` (git-ignored) unless
NUMBA_CACHE_DIR is already set; this must happen before numba is imported.
"""

import os
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[2] / ".numba_cache"))

from .api import (  # noqa: E402
    GLD_EXPENSE_RATIO_Q,
    Greeks,
    IVReason,
    american_greeks,
    american_price,
    bs_greeks,
    implied_vol,
)

__all__ = [
    "GLD_EXPENSE_RATIO_Q",
    "Greeks",
    "IVReason",
    "american_greeks",
    "american_price",
    "bs_greeks",
    "implied_vol",
]
