"""Email delivery of pending alert-log rows over SMTP.

Decisions:
- One email per delivery batch: every ``pending`` row goes into a single message, most
  severe first. The subject names the most severe new alert; the latest PDF report is
  attached when the batch contains a critical ``enter`` row, the selloff report
  (``selloff_latest.pdf``) when it contains a ``selloff`` ``enter`` row; both when both
  apply. The body lists each attachment. A missing file is logged and the email goes
  out without it.
- Email off (no ``VAULT_SMTP_HOST``): rows stay ``pending`` and the result says
  ``email_enabled=False``; the caller logs "email off" once. Turning email on later
  delivers the backlog in one message.
- Failure (any SMTP or socket error): rows stay ``pending`` with ``attempts`` + 1,
  ``last_attempt_at`` and ``last_error`` set, so the next run retries them. Rows already
  ``sent`` (or ``suppressed``) are never sent again.
- Once the server has accepted the message, errors while saying QUIT are ignored so an
  accepted message is not reported as failed and then sent twice.
"""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Final, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from pipeline.alerts.rules import LEVELS, SELLOFF_RULE, headline
from pipeline.alerts.state import UTC_TIME, to_utc, conform_alert_log

logger = logging.getLogger(__name__)

TlsMode = Literal["none", "starttls", "ssl"]
DEFAULT_PORTS: Final[dict[str, int]] = {"none": 25, "starttls": 587, "ssl": 465}
MAX_ERROR_CHARS: Final = 500


class SmtpConfigError(ValueError):
    """An SMTP environment variable has a value we cannot use."""


class SmtpSettings(BaseModel):
    """Where and how to send alert email. ``password`` is a SecretStr: it never shows in repr/str.

    ``ca_file`` (optional, ``VAULT_SMTP_CA_FILE``) trusts a private CA for TLS, e.g. an
    internal relay; without it the system trust store is used.
    """

    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    tls: TlsMode = "none"
    user: str | None = None
    password: SecretStr | None = None
    sender: str
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _user_and_password_together(self) -> SmtpSettings:
        if bool(self.user) != (self.password is not None):
            raise ValueError("user and password must be set together (login needs both)")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SmtpSettings | None:
        """Read ``VAULT_SMTP_*`` variables; None when ``VAULT_SMTP_HOST`` is unset or empty (email off)."""
        host = environ.get("VAULT_SMTP_HOST", "").strip()
        if not host:
            return None

        raw_tls = environ.get("VAULT_SMTP_TLS", "")
        tls = raw_tls.strip().lower() or "none"
        if tls not in DEFAULT_PORTS:
            raise SmtpConfigError(f"VAULT_SMTP_TLS={raw_tls!r} is not supported; use one of none, starttls, ssl")

        raw_port = environ.get("VAULT_SMTP_PORT", "").strip()
        port = DEFAULT_PORTS[tls] if not raw_port else _parse_port(raw_port)

        user = environ.get("VAULT_SMTP_USER", "").strip() or None
        password = environ.get("VAULT_SMTP_PASSWORD") or None
        if user and password is None:
            raise SmtpConfigError("VAULT_SMTP_PASSWORD is required when VAULT_SMTP_USER is set")
        if password is not None and not user:
            raise SmtpConfigError("VAULT_SMTP_USER is required when VAULT_SMTP_PASSWORD is set")

        sender = environ.get("VAULT_SMTP_FROM", "").strip()
        if not sender:
            raise SmtpConfigError("VAULT_SMTP_FROM is required when VAULT_SMTP_HOST is set")

        raw_ca_file = environ.get("VAULT_SMTP_CA_FILE", "").strip()
        return cls(
            host=host,
            port=port,
            tls=tls,  # type: ignore[arg-type]  # checked against DEFAULT_PORTS above
            user=user,
            password=SecretStr(password) if password is not None else None,
            sender=sender,
            ca_file=Path(raw_ca_file) if raw_ca_file else None,
        )


@dataclass(frozen=True)
class DeliveryResult:
    """What one :func:`deliver_pending` call did.

    ``sent``/``failed`` count alert rows, ``pending`` counts rows still waiting afterwards.
    ``email_enabled`` is False when no SMTP settings were given (nothing was attempted).
    """

    sent: int
    failed: int
    pending: int
    email_enabled: bool
    error: str | None = None
    attachment: Path | None = None
    """The latest report PDF, when it was attached (kept for callers that expect one file)."""
    attachments: tuple[Path, ...] = ()
    """Every file attached, in the order the email carries them."""


SendFn = Callable[[EmailMessage, SmtpSettings, float], None]


def send_via_smtp(message: EmailMessage, settings: SmtpSettings, timeout: float) -> None:
    """Send one message with smtplib, using plain SMTP, STARTTLS or implicit TLS per settings."""
    context = ssl.create_default_context(cafile=settings.ca_file)
    if settings.tls == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
    try:
        if settings.tls == "starttls":
            client.starttls(context=context)
        if settings.user and settings.password is not None:
            client.login(settings.user, settings.password.get_secret_value())
        refused = client.send_message(message)
        if refused:
            logger.warning("alert email refused for %s; delivered to the other recipients", sorted(refused))
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            pass  # the server already accepted the message; do not report a failure
    finally:
        client.close()


def build_message(
    alert_rows: pl.DataFrame,
    recipients: Sequence[str],
    sender: str,
    attachment: Path | None,
    *,
    selloff_report: Path | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """One email for a batch of alert-log rows, most severe first, with the optional PDFs attached.

    ``attachment`` is the latest report, ``selloff_report`` the selloff report; the body
    names each. The Message-ID is derived from the alert ids, so a retried batch carries
    the same id.
    """
    if alert_rows.height == 0:
        raise ValueError("alert_rows is empty; nothing to put in an email")
    if not recipients:
        raise ValueError("recipients is empty; need at least one address")
    rows = _most_severe_first(alert_rows).to_dicts()

    message = EmailMessage()
    message["Subject"] = _subject(rows)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    if date is not None:
        message["Date"] = format_datetime(to_utc(date, "date"))
    digest = hashlib.sha256("\n".join(sorted(row["alert_id"] for row in rows)).encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@vault-dashboard>"
    attachments = _labelled_attachments(attachment, selloff_report)
    message.set_content(_body(rows, attachments))
    for _, path in attachments:
        message.add_attachment(path.read_bytes(), maintype="application", subtype="pdf", filename=path.name)
    return message


def deliver_pending(
    log: pl.DataFrame,
    settings: SmtpSettings | None,
    recipients: Sequence[str],
    report_pdf: Path | None,
    now: datetime,
    timeout: float = 10.0,
    send: SendFn = send_via_smtp,
    *,
    selloff_pdf: Path | None = None,
) -> tuple[pl.DataFrame, DeliveryResult]:
    """Email every ``pending`` row in one message and record the outcome in the returned log.

    ``report_pdf`` is attached when the batch holds a critical ``enter`` row, ``selloff_pdf``
    when it holds a ``selloff`` ``enter`` row, each only if the file exists (a missing file
    is logged and the email goes out without it).
    """
    now_utc = to_utc(now, "now")
    log = conform_alert_log(log)
    is_pending = pl.col("delivery_status") == "pending"
    pending = log.filter(is_pending)
    if settings is None:
        return log, DeliveryResult(sent=0, failed=0, pending=pending.height, email_enabled=False)
    if pending.height == 0:
        return log, DeliveryResult(sent=0, failed=0, pending=0, email_enabled=True)
    if not recipients:
        raise ValueError("recipients is empty while email is on; set at least one address")

    attachment = _attachment_for(pending, report_pdf, pl.col("level") == "critical", "report PDF")
    selloff_report = _attachment_for(pending, selloff_pdf, pl.col("rule") == SELLOFF_RULE, "selloff report PDF")
    attachments = tuple(path for _, path in _labelled_attachments(attachment, selloff_report))
    message = build_message(pending, recipients, settings.sender, attachment, selloff_report=selloff_report,
                            date=now_utc)
    try:
        send(message, settings, timeout)
    except (smtplib.SMTPException, OSError) as exc:
        error = _describe_error(exc, settings)
        logger.warning("alert email via %s:%s failed: %s", settings.host, settings.port, error)
        updated = _record_attempt(log, now_utc, error=error, delivered=False)
        failed = pending.height
        return updated, DeliveryResult(sent=0, failed=failed, pending=failed, email_enabled=True, error=error,
                                       attachment=attachment, attachments=attachments)
    updated = _record_attempt(log, now_utc, error=None, delivered=True)
    return updated, DeliveryResult(sent=pending.height, failed=0, pending=0, email_enabled=True,
                                   attachment=attachment, attachments=attachments)


def _record_attempt(log: pl.DataFrame, now_utc: datetime, *, error: str | None, delivered: bool) -> pl.DataFrame:
    """Book one delivery attempt on every pending row; mark them sent when it succeeded."""
    is_pending = pl.col("delivery_status") == "pending"
    now_literal = pl.lit(now_utc, dtype=UTC_TIME)

    def on_pending(value: pl.Expr, column: str) -> pl.Expr:
        return pl.when(is_pending).then(value).otherwise(pl.col(column)).alias(column)

    updates = [
        on_pending(pl.col("attempts") + 1, "attempts"),
        on_pending(now_literal, "last_attempt_at"),
        on_pending(pl.lit(error, dtype=pl.String), "last_error"),
    ]
    if delivered:
        updates += [on_pending(now_literal, "sent_at"), on_pending(pl.lit("sent"), "delivery_status")]
    return log.with_columns(updates)


def _parse_port(raw_port: str) -> int:
    try:
        port = int(raw_port)
    except ValueError:
        raise SmtpConfigError(f"VAULT_SMTP_PORT={raw_port!r} is not an integer") from None
    if not 1 <= port <= 65535:
        raise SmtpConfigError(f"VAULT_SMTP_PORT={raw_port!r} is outside 1..65535")
    return port


def _most_severe_first(rows: pl.DataFrame) -> pl.DataFrame:
    """New alerts before clearances, then critical > warning > info, then rule and subject."""
    severity = {level: rank for rank, level in enumerate(reversed(LEVELS))}
    return rows.sort(
        pl.col("event") != "enter",
        pl.col("level").replace_strict(severity, default=len(severity)),
        "rule",
        "subject",
        "first_seen",
    )


def _subject(rows: list[dict]) -> str:
    top = rows[0]
    if top["event"] == "enter":
        lead = f"{top['level'].upper()}: {headline(top['message'])}"
    else:
        lead = f"CLEARED: {top['rule']} ({top['subject']})"
    more = f" (+{len(rows) - 1} more)" if len(rows) > 1 else ""
    return f"[Vault] {lead}{more}"


def _body(rows: list[dict], attachments: list[tuple[str, Path]]) -> str:
    lines = [f"Vault Dashboard: {len(rows)} alert change(s).", ""]
    for row in rows:
        state = "NEW" if row["event"] == "enter" else "CLEARED"
        lines.append(f"[{row['level'].upper()}] {state} {row['rule']} ({row['subject']})")
        lines.append(f"  {row['message']}")
        lines.append(f"  first seen {row['first_seen'].isoformat()}")
        if row["event"] == "leave":
            lines.append(f"  cleared at {row['last_seen'].isoformat()}")
        lines.append(f"  alert id {row['alert_id']}")
        lines.append("")
    lines += [f"Attached: {label} {path.name}" for label, path in attachments]
    return "\n".join(lines)


def _labelled_attachments(report: Path | None, selloff_report: Path | None) -> list[tuple[str, Path]]:
    """The files to attach, each with the words the body introduces it by, report first."""
    candidates = (("latest report", report), ("selloff report", selloff_report))
    return [(label, path) for label, path in candidates if path is not None]


def _attachment_for(pending: pl.DataFrame, pdf: Path | None, wanted_by: pl.Expr, what: str) -> Path | None:
    """``pdf`` when a pending ``enter`` row matches ``wanted_by`` and the file exists, else None."""
    if pdf is None or pending.filter((pl.col("event") == "enter") & wanted_by).height == 0:
        return None
    if not pdf.is_file():
        logger.warning("%s %s not found; sending the alert email without it", what, pdf)
        return None
    return pdf


def _describe_error(exc: BaseException, settings: SmtpSettings) -> str:
    """A one-line error for the log table, with the password masked should a server echo it."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    if settings.password is not None and settings.password.get_secret_value():
        text = text.replace(settings.password.get_secret_value(), "**********")
    return text[:MAX_ERROR_CHARS]
