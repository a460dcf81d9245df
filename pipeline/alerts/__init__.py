"""Alerts: rules -> state-change log -> email delivery. Pure functions over Polars frames.

Typical run (the Dagster layer persists the log as ``analytics.alerts``)::

    active = evaluate_alerts(inputs)
    log = update_alert_log(log, active, now, cooldown)
    log, result = deliver_pending(log, SmtpSettings.from_env(), recipients, report_pdf, now)
"""

from pipeline.alerts.delivery import DeliveryResult, SmtpConfigError, SmtpSettings, build_message, deliver_pending
from pipeline.alerts.rules import ACTIVE_SCHEMA, AlertInputs, AlertThresholds, evaluate_alerts
from pipeline.alerts.state import ALERT_LOG_SCHEMA, empty_alert_log, update_alert_log

__all__ = [
    "ACTIVE_SCHEMA",
    "ALERT_LOG_SCHEMA",
    "AlertInputs",
    "AlertThresholds",
    "DeliveryResult",
    "SmtpConfigError",
    "SmtpSettings",
    "build_message",
    "deliver_pending",
    "empty_alert_log",
    "evaluate_alerts",
    "update_alert_log",
]
