"""SMTP settings, message building and delivery against a real aiosmtpd server."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import ValidationError

from pipeline.alerts.delivery import SmtpConfigError, SmtpSettings, build_message, deliver_pending
from pipeline.alerts.rules import AlertInputs, evaluate_alerts
from pipeline.alerts.state import empty_alert_log, update_alert_log

StartSmtp = Callable[..., Any]
"""The `smtp_server_factory` fixture: start(reject_with=None, **Controller kwargs) -> running server."""
RunningSmtp = Any

T0 = datetime(2026, 1, 30, 7, 0, tzinfo=timezone.utc)
RECIPIENTS = ["risk@example.com", "owner@example.com"]
SENDER = "vault@example.com"
PASSWORD = "s3cret-Pa55word"
PDF_BYTES = b"%PDF-1.4\n% vault test report\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SELLOFF_PDF_BYTES = b"%PDF-1.4\n% selloff report\n\x00\xff\x80 binary\r\n%%EOF\n"


def plain_settings(port: int, **overrides: object) -> SmtpSettings:
    return SmtpSettings(**({"host": "127.0.0.1", "port": port, "tls": "none", "sender": SENDER} | overrides))


def alerts_for(ltv: float, day: int, closes: Sequence[float] = ()) -> pl.DataFrame:
    """The active alerts on 30 Jan + `day`; `closes` are GLD closes on consecutive days ending that day."""
    as_of = date(2026, 1, 30) + timedelta(days=day)
    history = pl.DataFrame(
        {"date": [as_of - timedelta(days=len(closes) - 1 - i) for i in range(len(closes))], "close": list(closes)},
        schema={"date": pl.Date, "close": pl.Float64},
    )
    inputs = AlertInputs(
        as_of=as_of,
        ltv=ltv,
        gld_close=180.12,
        margin_call_price=178.5,
        cure_amount=12_345.0,
        closes=history,
    )
    return evaluate_alerts(inputs)


def pending_log(ltv: float = 0.762) -> pl.DataFrame:
    return update_alert_log(empty_alert_log(), alerts_for(ltv, 0), T0)


@pytest.fixture
def report_pdf(tmp_path: Path) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(PDF_BYTES)
    return path


@pytest.fixture
def selloff_pdf(tmp_path: Path) -> Path:
    path = tmp_path / "selloff_latest.pdf"
    path.write_bytes(SELLOFF_PDF_BYTES)
    return path


def body_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def pdf_attachments(message: EmailMessage) -> list[tuple[str | None, bytes]]:
    return [(part.get_filename(), part.get_content()) for part in message.iter_attachments()]


# --- settings --------------------------------------------------------------------------


def test_no_host_means_email_off() -> None:
    assert SmtpSettings.from_env({}) is None
    assert SmtpSettings.from_env({"VAULT_SMTP_HOST": "  ", "VAULT_SMTP_TLS": "bogus"}) is None


@pytest.mark.parametrize(("tls", "port"), [(None, 25), ("none", 25), ("starttls", 587), ("STARTTLS", 587), ("ssl", 465)])
def test_default_port_follows_tls_mode(tls: str | None, port: int) -> None:
    environ = {"VAULT_SMTP_HOST": "mail.example.com", "VAULT_SMTP_FROM": SENDER}
    if tls is not None:
        environ["VAULT_SMTP_TLS"] = tls
    settings = SmtpSettings.from_env(environ)
    assert settings is not None
    assert (settings.port, settings.tls) == (port, (tls or "none").lower())


def test_full_environment_is_read() -> None:
    settings = SmtpSettings.from_env(
        {
            "VAULT_SMTP_HOST": "mail.example.com",
            "VAULT_SMTP_PORT": "2525",
            "VAULT_SMTP_TLS": "starttls",
            "VAULT_SMTP_USER": "vault",
            "VAULT_SMTP_PASSWORD": PASSWORD,
            "VAULT_SMTP_FROM": SENDER,
            "VAULT_SMTP_CA_FILE": "/etc/ssl/private-ca.pem",
        }
    )
    assert settings is not None
    assert (settings.host, settings.port, settings.tls, settings.user, settings.sender) == (
        "mail.example.com",
        2525,
        "starttls",
        "vault",
        SENDER,
    )
    assert settings.password is not None and settings.password.get_secret_value() == PASSWORD
    assert settings.ca_file == Path("/etc/ssl/private-ca.pem")


@pytest.mark.parametrize("value", ["tls", "SSLv3", "yes"])
def test_unsupported_tls_value_names_variable_and_value(value: str) -> None:
    with pytest.raises(SmtpConfigError, match=f"VAULT_SMTP_TLS='{value}'"):
        SmtpSettings.from_env({"VAULT_SMTP_HOST": "mail.example.com", "VAULT_SMTP_TLS": value, "VAULT_SMTP_FROM": SENDER})


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"VAULT_SMTP_PORT": "smtp"}, "VAULT_SMTP_PORT='smtp'"),
        ({"VAULT_SMTP_PORT": "70000"}, "VAULT_SMTP_PORT='70000'"),
        ({"VAULT_SMTP_USER": "vault"}, "VAULT_SMTP_PASSWORD"),
        ({"VAULT_SMTP_PASSWORD": PASSWORD}, "VAULT_SMTP_USER"),
        ({"VAULT_SMTP_FROM": ""}, "VAULT_SMTP_FROM"),
    ],
)
def test_bad_settings_name_the_variable(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SmtpConfigError, match=named):
        SmtpSettings.from_env({"VAULT_SMTP_HOST": "mail.example.com", "VAULT_SMTP_FROM": SENDER} | environ)


def test_settings_built_in_code_need_user_and_password_together() -> None:
    with pytest.raises(ValidationError, match="user and password must be set together"):
        plain_settings(25, user="vault")


def test_password_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    environ = {
        "VAULT_SMTP_HOST": "127.0.0.1",
        "VAULT_SMTP_PORT": "1",  # nothing listens: the delivery attempt fails and is logged
        "VAULT_SMTP_USER": "vault",
        "VAULT_SMTP_PASSWORD": PASSWORD,
        "VAULT_SMTP_FROM": SENDER,
    }
    settings = SmtpSettings.from_env(environ)
    assert settings is not None
    with pytest.raises(SmtpConfigError) as bad_tls:
        SmtpSettings.from_env(environ | {"VAULT_SMTP_TLS": "nope"})
    with caplog.at_level(logging.DEBUG):
        log, result = deliver_pending(pending_log(), settings, RECIPIENTS, None, T0, timeout=2)
        logging.getLogger("test").info("settings are %s / %r", settings, settings)
    shown = [repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump()), str(bad_tls.value)]
    shown += [caplog.text, str(result), str(log.to_dicts())]
    assert result.failed == 2  # the attempt really happened and was logged
    for text in shown:
        assert PASSWORD not in text


# --- message ---------------------------------------------------------------------------


def test_message_subject_body_and_attachment(report_pdf: Path) -> None:
    log = pending_log(0.762)
    message = build_message(log, RECIPIENTS, SENDER, report_pdf, date=T0)
    assert message["Subject"] == "[Vault] CRITICAL: LTV 76.2% >= 75.0% margin call (2026-01-30) (+1 more)"
    assert message["From"] == SENDER
    assert message["To"] == "risk@example.com, owner@example.com"
    body = message.get_body(preferencelist=("plain",)).get_content()
    critical_at, warning_at = body.index("[CRITICAL] NEW ltv_critical"), body.index("[WARNING] NEW ltv_warn")
    assert critical_at < warning_at
    assert "LTV 76.2% >= 70.0% warning level (2026-01-30)" in body
    assert "first seen 2026-01-30T07:00:00+00:00" in body
    attachment = next(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "report.pdf"
    assert attachment.get_content() == PDF_BYTES


def test_message_for_a_single_clearance() -> None:
    log = update_alert_log(pending_log(0.71), alerts_for(0.5, 1), T0 + timedelta(days=1))
    message = build_message(log.filter(pl.col("event") == "leave"), RECIPIENTS, SENDER, None)
    assert message["Subject"] == "[Vault] CLEARED: ltv_warn (portfolio)"
    assert "cleared at 2026-01-31T07:00:00+00:00" in message.get_content()
    assert list(message.iter_attachments()) == []


def test_message_needs_rows_and_recipients() -> None:
    with pytest.raises(ValueError, match="alert_rows is empty"):
        build_message(empty_alert_log(), RECIPIENTS, SENDER, None)
    with pytest.raises(ValueError, match="recipients is empty"):
        build_message(pending_log(), [], SENDER, None)


# --- delivery --------------------------------------------------------------------------


def test_email_off_leaves_rows_pending() -> None:
    log = pending_log()
    after, result = deliver_pending(log, None, RECIPIENTS, None, T0)
    assert after.equals(log)
    assert (result.email_enabled, result.sent, result.failed, result.pending) == (False, 0, 0, 2)


def test_alert_lifecycle_across_runs(
    smtp_server_factory: StartSmtp, report_pdf: Path
) -> None:
    """Daily runs: rules -> log -> delivery, with the server going down and coming back."""
    server = smtp_server_factory()
    log = empty_alert_log()

    def run(ltv: float, day: int, smtp: RunningSmtp):
        nonlocal log
        now = T0 + timedelta(days=day)
        log = update_alert_log(log, alerts_for(ltv, day), now)
        log, result = deliver_pending(log, plain_settings(smtp.port), RECIPIENTS, report_pdf, now, timeout=2)
        return result

    result = run(0.71, 0, server)  # first crossing of 70 %
    assert (result.sent, len(server.handler.messages)) == (1, 1)
    first = server.handler.messages[0]
    assert first["Subject"] == "[Vault] WARNING: LTV 71.0% >= 70.0% warning level (2026-01-30)"
    assert sorted(server.handler.envelopes_to[0]) == sorted(RECIPIENTS)
    assert pdf_attachments(first) == []

    result = run(0.71, 1, server)  # unchanged: nothing to say
    assert (result.sent, result.pending, len(server.handler.messages)) == (0, 0, 1)

    run(0.65, 2, server)  # back below: the user hears it cleared
    assert len(server.handler.messages) == 2
    assert server.handler.messages[1]["Subject"] == "[Vault] CLEARED: ltv_warn (portfolio)"

    run(0.72, 3, server)  # crosses again: a new episode, a new mail
    assert len(server.handler.messages) == 3
    assert server.handler.messages[2]["Subject"] == "[Vault] WARNING: LTV 72.0% >= 70.0% warning level (2026-02-02)"

    result = run(0.762, 4, server)  # margin call: critical mail with the report attached
    assert len(server.handler.messages) == 4
    critical = server.handler.messages[3]
    assert critical["Subject"] == "[Vault] CRITICAL: LTV 76.2% >= 75.0% margin call (2026-02-03)"
    assert pdf_attachments(critical) == [("report.pdf", report_pdf.read_bytes())]
    assert result.attachment == report_pdf

    server.stop()  # the relay is down for two runs
    for day, attempts in ((5, 1), (6, 2)):
        result = run(0.60, day, server)
        assert (result.sent, result.failed, result.pending, result.email_enabled) == (0, 2, 2, True)
        waiting = log.filter(pl.col("delivery_status") == "pending")
        assert waiting.select("rule", "event").sort("rule").rows() == [("ltv_critical", "leave"), ("ltv_warn", "leave")]
        assert waiting["attempts"].to_list() == [attempts, attempts]
        assert waiting["last_attempt_at"].to_list() == [T0 + timedelta(days=day)] * 2
        assert all("Connection refused" in error or "Errno" in error for error in waiting["last_error"])

    replacement = smtp_server_factory()  # back up, on a new port
    result = run(0.60, 7, replacement)
    assert (result.sent, result.failed, result.pending) == (2, 0, 0)
    assert len(replacement.handler.messages) == 1
    assert replacement.handler.messages[0]["Subject"] == "[Vault] CLEARED: ltv_critical (portfolio) (+1 more)"

    run(0.60, 8, replacement)  # nothing new, nothing resent
    assert len(replacement.handler.messages) == 1
    assert len(server.handler.messages) == 4

    assert log.select("rule", "event").rows() == [  # one row per state change
        ("ltv_warn", "enter"),
        ("ltv_warn", "leave"),
        ("ltv_warn", "enter"),
        ("ltv_critical", "enter"),
        ("ltv_critical", "leave"),
        ("ltv_warn", "leave"),
    ]
    assert log.filter(pl.col("delivery_status") != "sent").height == 0
    assert log.filter(pl.col("last_error").is_not_null()).height == 0
    delivered = server.handler.messages + replacement.handler.messages
    mailed_ids = [
        line.strip().removeprefix("alert id ")
        for message in delivered
        for line in message.get_body(preferencelist=("plain",)).get_content().splitlines()
        if line.strip().startswith("alert id ")
    ]
    assert sorted(mailed_ids) == sorted(log["alert_id"])  # every change mailed exactly once
    recovered = log.filter(pl.col("event") == "leave", pl.col("last_seen") == T0 + timedelta(days=5))
    assert recovered.select("attempts", "sent_at").rows() == [(3, T0 + timedelta(days=7))] * 2


def test_rejected_message_stays_pending(smtp_server_factory: StartSmtp) -> None:
    server = smtp_server_factory(reject_with="554 5.7.1 Message rejected")
    log, result = deliver_pending(pending_log(), plain_settings(server.port), RECIPIENTS, None, T0, timeout=2)
    assert (result.sent, result.failed, result.pending) == (0, 2, 2)
    assert result.error is not None and "554" in result.error
    assert log["delivery_status"].to_list() == ["pending", "pending"]
    assert log["attempts"].to_list() == [1, 1]


def test_sent_and_suppressed_rows_are_never_sent(smtp_server: RunningSmtp) -> None:
    log = pending_log().with_columns(
        delivery_status=pl.Series(["sent", "suppressed"]), attempts=pl.Series([1, 0], dtype=pl.Int64)
    )
    after, result = deliver_pending(log, plain_settings(smtp_server.port), RECIPIENTS, None, T0)
    assert after.equals(log)
    assert (result.sent, result.pending, len(smtp_server.handler.messages)) == (0, 0, 0)


def test_missing_report_pdf_does_not_block_the_critical_mail(smtp_server: RunningSmtp, tmp_path: Path) -> None:
    log, result = deliver_pending(
        pending_log(), plain_settings(smtp_server.port), RECIPIENTS, tmp_path / "absent.pdf", T0
    )
    assert result.sent == 2 and result.attachment is None
    assert pdf_attachments(smtp_server.handler.messages[0]) == []


def authenticator_accepting(user: str, password: str) -> Callable[..., AuthResult]:
    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    return authenticate


def test_login_when_user_is_set(smtp_server_factory: StartSmtp) -> None:
    server = smtp_server_factory(authenticator=authenticator_accepting("vault", PASSWORD), auth_require_tls=False)
    wrong = plain_settings(server.port, user="vault", password="not-it")
    log, result = deliver_pending(pending_log(), wrong, RECIPIENTS, None, T0, timeout=2)
    assert result.failed == 2 and "SMTPAuthenticationError" in (result.error or "")
    assert "not-it" not in str(log.to_dicts())

    right = plain_settings(server.port, user="vault", password=PASSWORD)
    log, result = deliver_pending(log, right, RECIPIENTS, None, T0 + timedelta(minutes=5), timeout=2)
    assert result.sent == 2 and server.handler.authenticated == [True]
    assert log["attempts"].to_list() == [2, 2]


# --- TLS (self-signed certificate made with the openssl CLI at test time) --------------


@pytest.fixture
def self_signed_cert(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make a self-signed certificate (cryptography/trustme not installed)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def test_starttls_with_login(smtp_server_factory: StartSmtp, self_signed_cert: tuple[Path, Path]) -> None:
    cert, key = self_signed_cert
    server = smtp_server_factory(
        tls_context=server_tls_context(cert, key),
        require_starttls=True,  # the server refuses mail before STARTTLS
        authenticator=authenticator_accepting("vault", PASSWORD),
        auth_required=True,  # AUTH is offered only after TLS (aiosmtpd's default)
    )
    settings = plain_settings(server.port, tls="starttls", user="vault", password=PASSWORD, ca_file=cert)
    log, result = deliver_pending(pending_log(), settings, RECIPIENTS, None, T0)
    assert result.sent == 2 and server.handler.authenticated == [True]


def test_starttls_verifies_the_certificate(
    smtp_server_factory: StartSmtp, self_signed_cert: tuple[Path, Path]
) -> None:
    cert, key = self_signed_cert
    server = smtp_server_factory(tls_context=server_tls_context(cert, key), require_starttls=True)
    untrusted = plain_settings(server.port, tls="starttls")  # system trust store only
    log, result = deliver_pending(pending_log(), untrusted, RECIPIENTS, None, T0)
    assert result.failed == 2 and "CERTIFICATE_VERIFY_FAILED" in (result.error or "")
    assert server.handler.messages == []


def test_implicit_tls(smtp_server_factory: StartSmtp, self_signed_cert: tuple[Path, Path]) -> None:
    cert, key = self_signed_cert
    server = smtp_server_factory(ssl_context=server_tls_context(cert, key))
    settings = plain_settings(server.port, tls="ssl", ca_file=cert)
    log, result = deliver_pending(pending_log(), settings, RECIPIENTS, None, T0)
    assert result.sent == 2 and len(server.handler.messages) == 1


def _server_that_hangs_up_during_data() -> tuple[int, threading.Thread]:
    """A loopback SMTP server that accepts the envelope, reads part of the message, then closes the
    connection: the relay going down mid-message."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        connection, _ = listener.accept()
        with connection, listener:
            reader = connection.makefile("rb")
            connection.sendall(b"220 relay ready\r\n")
            while line := reader.readline():
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    connection.sendall(b"250 relay\r\n")
                elif verb in (b"MAIL", b"RCPT"):
                    connection.sendall(b"250 ok\r\n")
                elif verb == b"DATA":
                    connection.sendall(b"354 go ahead\r\n")
                    reader.read(200)  # part of the message, then the line drops
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def test_relay_dropping_mid_message_keeps_the_alerts_pending_and_the_retry_sends_once(
        smtp_server: RunningSmtp) -> None:
    port, thread = _server_that_hangs_up_during_data()
    log, result = deliver_pending(pending_log(), plain_settings(port), RECIPIENTS, None, T0, timeout=5)
    thread.join(timeout=5)
    assert (result.sent, result.pending) == (0, 2) and result.error
    assert log["delivery_status"].to_list() == ["pending", "pending"] and log["attempts"].to_list() == [1, 1]
    assert log["last_error"].drop_nulls().len() == 2
    retried, again = deliver_pending(log, plain_settings(smtp_server.port), RECIPIENTS, None, T0 + timedelta(hours=1))
    assert (again.sent, again.pending) == (2, 0)
    assert retried["delivery_status"].to_list() == ["sent", "sent"] and retried["attempts"].to_list() == [2, 2]
    assert len(smtp_server.handler.messages) == 1  # one message for both alerts, sent once


# --- selloff report attachment -----------------------------------------------------------


def test_selloff_episode_is_mailed_once_with_its_report(smtp_server: RunningSmtp, selloff_pdf: Path) -> None:
    """Daily runs 30 Jan (day 0) .. 7 Feb on GLD closes 100, 98, 96, 94, 92, 91, 93, 91, 95, cooldown 48 h.

    From the running high of 100 (default 60-day lookback, fewer closes exist, all used):
    day 3 94 -> -6 %; day 4 92 -> -8.0 %, at the inclusive threshold: enter, mailed with the
    selloff report (one day 92 / 94 - 1 = -2.1 %, never near -4 % in this series);
    day 5 91 -> -9 %: still active, refreshed, no mail; day 6 93 -> -7 %: cleared, mailed;
    day 7 91 -> -9 %: re-enters 24 h after clearing, inside the 48 h cooldown: logged
    suppressed, no mail; day 8 95 -> -5 %: its clearance is suppressed too.
    """
    closes = [100, 98, 96, 94, 92, 91, 93, 91, 95]
    log = empty_alert_log()
    mails_after_run = []
    for day in range(len(closes)):
        now = T0 + timedelta(days=day)
        log = update_alert_log(log, alerts_for(0.5, day, closes[: day + 1]), now, timedelta(hours=48))
        log, _ = deliver_pending(log, plain_settings(smtp_server.port), RECIPIENTS, None, now, timeout=2,
                                 selloff_pdf=selloff_pdf)
        mails_after_run.append(len(smtp_server.handler.messages))

    assert mails_after_run == [0, 0, 0, 0, 1, 1, 2, 2, 2]
    assert log.select("rule", "subject", "event", "delivery_status").rows() == [
        ("selloff", "GLD", "enter", "sent"),
        ("selloff", "GLD", "leave", "sent"),
        ("selloff", "GLD", "enter", "suppressed"),
        ("selloff", "GLD", "leave", "suppressed"),
    ]
    assert json.loads(log["values"][0])["close"] == 91.0  # refreshed on day 5, the episode's last active day

    started, cleared = smtp_server.handler.messages
    assert started["Subject"] == "[Vault] WARNING: GLD selloff: -8.0% from its 5-day high (2026-02-03)"
    assert pdf_attachments(started) == [("selloff_latest.pdf", SELLOFF_PDF_BYTES)]
    assert "Attached: selloff report selloff_latest.pdf" in body_of(started)
    assert cleared["Subject"] == "[Vault] CLEARED: selloff (GLD)"
    assert pdf_attachments(cleared) == []


def test_a_critical_selloff_batch_attaches_both_reports(
    smtp_server: RunningSmtp, report_pdf: Path, selloff_pdf: Path
) -> None:
    """LTV 76.2 % (critical) on the day GLD closes 100 -> 91 (-9 %): the latest report and the selloff report."""
    log = update_alert_log(empty_alert_log(), alerts_for(0.762, 0, [100, 91]), T0)
    _, result = deliver_pending(log, plain_settings(smtp_server.port), RECIPIENTS, report_pdf, T0,
                                selloff_pdf=selloff_pdf)
    assert (result.sent, result.attachment, result.attachments) == (3, report_pdf, (report_pdf, selloff_pdf))
    (message,) = smtp_server.handler.messages
    assert pdf_attachments(message) == [("report.pdf", PDF_BYTES), ("selloff_latest.pdf", SELLOFF_PDF_BYTES)]
    assert body_of(message).splitlines()[-2:] == [
        "Attached: latest report report.pdf",
        "Attached: selloff report selloff_latest.pdf",
    ]


def test_no_selloff_report_without_a_selloff_enter_row(smtp_server: RunningSmtp, selloff_pdf: Path) -> None:
    """An LTV warning alone (71 %, closes flat at 100) carries no attachment even when the selloff PDF exists."""
    log = update_alert_log(empty_alert_log(), alerts_for(0.71, 0, [100, 100]), T0)
    _, result = deliver_pending(log, plain_settings(smtp_server.port), RECIPIENTS, None, T0, selloff_pdf=selloff_pdf)
    assert (result.sent, result.attachment, result.attachments) == (1, None, ())
    assert pdf_attachments(smtp_server.handler.messages[0]) == []
    assert "Attached" not in body_of(smtp_server.handler.messages[0])


def test_missing_selloff_pdf_does_not_block_the_mail(
    smtp_server: RunningSmtp, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = update_alert_log(empty_alert_log(), alerts_for(0.5, 0, [100, 91]), T0)
    with caplog.at_level(logging.WARNING):
        _, result = deliver_pending(log, plain_settings(smtp_server.port), RECIPIENTS, None, T0,
                                    selloff_pdf=tmp_path / "selloff_latest.pdf")
    assert (result.sent, result.attachments) == (1, ())
    assert pdf_attachments(smtp_server.handler.messages[0]) == []
    assert "selloff report PDF" in caplog.text and "selloff_latest.pdf not found" in caplog.text
