"""The methodology version stamped on published analytics rows.

One constant for the whole project: bump it, with a changelog entry in docs/methodology.md,
whenever a formula behind a published figure changes, so a stored row says which rules made it.
"""

from typing import Final

METHODOLOGY_VERSION: Final = "2026.12.1"
