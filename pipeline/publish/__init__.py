"""Publishing step: the static offline dashboard and the emailed PDF report.

Pure functions over Polars frames (no Dagster): read one `DashboardData` from the warehouse, then
render it to the site (`publish_site`: one context function and one template per page, listed in
`pipeline.publish.site.SITE_PAGES`) and to PDF (`render_report_pdf`).
"""

from pipeline.publish.data import CheckResult, DashboardData, read_dashboard_data
from pipeline.publish.pdf import render_report_pdf
from pipeline.publish.site import SITE_PAGES, PublishedSite, publish_site

__all__ = [
    "SITE_PAGES",
    "CheckResult",
    "DashboardData",
    "PublishedSite",
    "publish_site",
    "read_dashboard_data",
    "render_report_pdf",
]
