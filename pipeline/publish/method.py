"""The Data & method page: where each input came from and how fresh it is, the last asset-check
results, and the methodology version; the template summarises the provenance (data/SOURCES.md)
and the pricing and chain-model method, linking the documents in the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from pipeline.methodology import METHODOLOGY_VERSION
from pipeline.publish.context import InputStatus, build_site_header

if TYPE_CHECKING:
    from pipeline.publish.data import CheckResult, DashboardData

REPOSITORY_FROM_SITE: Final = "../.."
"""The repository root seen from the site's default place, build/site (the document links use it)."""


@dataclass(frozen=True)
class DataMethodContext:
    """Everything the Data & method page shows from data (the rest is the template's prose)."""

    inputs: tuple[InputStatus, ...]
    checks: tuple[CheckResult, ...] | None
    """None when the site was published outside Dagster: there is no run to read checks from."""
    methodology_version: str
    repository_href: str

    @property
    def failed_checks(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks or () if check.outcome != "passed")


def build_data_method_context(data: DashboardData) -> DataMethodContext:
    """raw.ingest_status, the asset checks passed in by the publishing asset, the methodology version."""
    return DataMethodContext(
        inputs=build_site_header(data).inputs,
        checks=data.checks,
        methodology_version=METHODOLOGY_VERSION,
        repository_href=REPOSITORY_FROM_SITE,
    )
