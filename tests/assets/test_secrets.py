"""A known SMTP password never lands anywhere a run writes: warehouse, site, PDFs, audit export,
Dagster's event log and compute logs, the run's own output.

Two real `python -m assets.run` in subprocesses (the `make run` entry point) with a persistent
DAGSTER_HOME: the first logs in to a real aiosmtpd relay with the password and mails a critical
alert with the PDF attached, the second finds the relay down. Then every file under the sandbox and
DAGSTER_HOME is searched: raw bytes, and decoded where the format compresses (every warehouse
value, PDF text, Parquet values).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
from aiosmtpd.smtp import AuthResult, LoginPassword
from pypdf import PdfReader

from tests.alerts.conftest import RunningSmtp, smtp_server_factory  # noqa: F401  (fixture)
from tests.assets.test_faults import ROOT, _env
from tests.conftest import PORTFOLIO_2026, Sandbox

PASSWORD = "s3cret-Pa55word-9F2"


def _authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN202
    ok = isinstance(auth_data, LoginPassword) and auth_data.password.decode() == PASSWORD
    return AuthResult(success=ok)


def _run(box: Sandbox, home: Path, port: int) -> subprocess.CompletedProcess:
    env = {**_env(box, home), "VAULT_SMTP_HOST": "127.0.0.1", "VAULT_SMTP_PORT": str(port),
           "VAULT_SMTP_TLS": "none", "VAULT_SMTP_USER": "vault", "VAULT_SMTP_PASSWORD": PASSWORD,
           "VAULT_SMTP_FROM": "vault@example.com"}
    return subprocess.run([sys.executable, "-m", "assets.run"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def _decoded(path: Path) -> str:
    """The readable content of a file whose format compresses text; '' for others."""
    if path.suffix == ".pdf":
        return " ".join(page.extract_text() for page in PdfReader(path).pages)
    if path.suffix == ".parquet":
        return pl.read_parquet(path).write_csv()
    if path.suffix == ".duckdb":
        with duckdb.connect(str(path), read_only=True) as conn:
            tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
            return " ".join(str(value) for schema, table in tables
                            for row in conn.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall() for value in row)
    return ""


def test_the_smtp_password_is_nowhere_after_a_sent_and_a_failed_delivery(tmp_path, smtp_server_factory):  # noqa: F811
    box = Sandbox.at(tmp_path / "box")
    box.root.mkdir()
    box.write_portfolio(PORTFOLIO_2026.replace("amount = 265000.0", "amount = 300000.0")
                        + '\n[alerts]\nrecipients = ["owner@example.com"]\n')
    home = tmp_path / "dagster_home"
    home.mkdir()
    relay = smtp_server_factory(authenticator=_authenticator, auth_require_tls=False)
    sent = _run(box, home, relay.port)
    assert sent.returncode == 0, sent.stderr[-3000:]
    assert relay.handler.authenticated == [True]  # the password was used, and right
    mail = relay.handler.messages[0]
    assert any(part.get_filename() for part in mail.iter_attachments())  # critical: the PDF went along
    relay.stop()
    failed = _run(box, home, relay.port)  # relay down now: the alerts stay pending with the error
    assert failed.returncode == 0, failed.stderr[-3000:]

    outputs = [sent.stdout, sent.stderr, failed.stdout, failed.stderr, mail.as_string()]
    assert not [i for i, text in enumerate(outputs) if PASSWORD in text]
    files = [p for root in (box.root, home) for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".duckdb" for p in files) and any(p.suffix == ".pdf" for p in files)
    assert any(p.suffix == ".parquet" for p in files) and any("storage" in p.parts for p in files)
    leaks = [p for p in files if PASSWORD.encode() in p.read_bytes() or PASSWORD in _decoded(p)]
    assert leaks == []
