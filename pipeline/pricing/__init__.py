"""Option pricing for the vault dashboard: European/American price, Greeks and implied vol.

Numba kernels are cached on disk in ``<NUMBA_CACHE_DIR or <repo>/.numba_cache>/pricing-<digest>``
(git-ignored), the digest taken over this package's sources.  Numba checks a cached
function against its own file only, so a kernel compiled against another module's
constants (the American IV against the block layout of american_nb, say) would be
loaded stale after that module changed; a new digest per source version rules it out.
"""

import hashlib
import os
import sys
from pathlib import Path


def _kernel_cache_dir() -> str:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for source in sorted(here.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    base = os.environ.get("NUMBA_CACHE_DIR") or str(here.parents[1] / ".numba_cache")
    if Path(base).name.startswith("pricing-"):  # already ours (a subprocess inherits it)
        base = str(Path(base).parent)
    return str(Path(base) / f"pricing-{digest.hexdigest()[:16]}")


os.environ["NUMBA_CACHE_DIR"] = _kernel_cache_dir()
if "numba" in sys.modules:  # imported before us: numba read its config already
    sys.modules["numba"].config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]

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
