"""Alerts end to end: the pipeline materialized in-process several times against a real SMTP server.

The loan is changed between runs to move the latest LTV (2026-10-06, GLD close 382.27, 1,000
shares = 382,270 USD of collateral) across the thresholds (warn 70 %, critical 75 %):

    loan 260,000 -> LTV 0.6801  nothing active
    loan 275,000 -> LTV 0.7194  ltv_warn
    loan 290,000 -> LTV 0.7586  ltv_warn + ltv_critical (margin call)

The book holds one December put (73 days left, triage neither ROLL nor HARVEST, so it raises no
alert of its own); the LTV alerts carry its mark and the hedged LTV from analytics.ltv_latest. The
selloff thresholds are set out of reach, so only the LTV rules speak.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage

import dagster as dg
import duckdb
import pytest

from tests.alerts.conftest import RunningSmtp, smtp_server_factory  # noqa: F401  (fixture)

LATEST_COLLATERAL = 382_270.0
PORTFOLIO = """\
name = "Alert test loan"
start_date = 2026-01-02

[collateral]
shares = 1000

[loan]
amount = {loan}

[alerts]
recipients = ["owner@example.com", "advisor@example.com"]
cooldown_hours = 0
selloff_drawdown = 0.5           # GLD is 8 % off its 60-day high on 2026-10-06: this test follows the LTV
selloff_one_day_fall = 0.5       # rules alone (the selloff rule: tests/alerts, tests/assets/test_backtest_pipeline.py)

[[hedges]]
id = "dec-380-put"
right = "put"
strike = 380.0
expiry = 2026-12-18
contracts = 3
entry_date = 2026-06-01
premium = 15.20
"""
REFRESH = [dg.AssetKey(["analytics", "positions_daily"]), dg.AssetKey(["analytics", "ltv_daily"]),
           dg.AssetKey(["publish", "report_pdf"]), dg.AssetKey(["analytics", "alerts"])]


class Pipeline:
    """Materializes the code location's assets into the sandbox, the first time all of them."""

    def __init__(self, sandbox, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
        self.sandbox = sandbox
        self.monkeypatch = monkeypatch
        self.runs = 0
        self.instance = dg.DagsterInstance.ephemeral()

    def point_smtp_at(self, server: RunningSmtp) -> None:
        self.monkeypatch.setenv("VAULT_SMTP_HOST", "127.0.0.1")
        self.monkeypatch.setenv("VAULT_SMTP_PORT", str(server.port))
        self.monkeypatch.setenv("VAULT_SMTP_FROM", "vault@example.com")

    def run(self, loan: float) -> dg.ExecuteInProcessResult:
        from assets.definitions import ALL_ASSETS

        self.sandbox.write_portfolio(PORTFOLIO.format(loan=loan))
        selection = None if self.runs == 0 else REFRESH
        result = dg.materialize(ALL_ASSETS, resources=self.sandbox.resources(), selection=selection,
                                instance=self.instance)
        assert result.success
        self.runs += 1
        return result

    def messages(self, result: dg.ExecuteInProcessResult) -> list[str]:
        """The run's log lines (context.log calls included)."""
        return [entry.user_message for entry in self.instance.all_logs(result.run_id)]

    def log(self) -> list[tuple]:
        """The alert log in the order things happened (enter at first_seen, leave at last_seen)."""
        with duckdb.connect(str(self.sandbox.warehouse), read_only=True) as conn:
            return conn.execute(
                "SELECT rule, event, level, delivery_status, attempts FROM analytics.alerts "
                "ORDER BY CASE event WHEN 'enter' THEN first_seen ELSE last_seen END, rule").fetchall()


def _bodies(messages: list[EmailMessage]) -> list[str]:
    return [m.get_body(preferencelist=("plain",)).get_content() for m in messages]


def test_mails_follow_state_changes_and_survive_an_smtp_outage(sandbox, monkeypatch, smtp_server_factory):  # noqa: F811
    pipeline = Pipeline(sandbox, monkeypatch)
    server = smtp_server_factory()
    pipeline.point_smtp_at(server)
    inbox = server.handler.messages

    pipeline.run(260_000)  # full pipeline, LTV 68.0 %: nothing to say
    assert inbox == []

    pipeline.run(275_000)  # first crossing of warn
    assert len(inbox) == 1
    assert inbox[0]["Subject"] == "[Vault] WARNING: LTV 71.9% >= 70.0% warning level (2026-10-06)"
    assert inbox[0]["To"] == "owner@example.com, advisor@example.com"
    assert not list(inbox[0].iter_attachments())

    pipeline.run(275_000)  # still above warn: no new mail
    assert len(inbox) == 1

    pipeline.run(290_000)  # margin call: critical mail with the PDF of this run
    assert len(inbox) == 2
    critical = inbox[1]
    assert critical["Subject"] == "[Vault] CRITICAL: LTV 75.9% >= 75.0% margin call (2026-10-06)"
    attachments = list(critical.iter_attachments())
    assert len(attachments) == 1
    pdf_on_disk = sorted(sandbox.reports_dir.glob("vault_summary_*.pdf"))[-1]
    assert attachments[0].get_filename() == pdf_on_disk.name
    assert attachments[0].get_content() == pdf_on_disk.read_bytes()
    with duckdb.connect(str(sandbox.warehouse), read_only=True) as conn:
        hedge_value, hedged_ltv = conn.execute("SELECT hedge_value, hedged_ltv FROM analytics.ltv_latest").fetchone()
    assert hedge_value > 0 and hedged_ltv == pytest.approx(290_000 / (LATEST_COLLATERAL + hedge_value))
    assert f"with hedges worth {hedge_value:,.2f}: LTV {hedged_ltv:.1%}" in _bodies([critical])[0]

    pipeline.run(260_000)  # both clear: one mail listing both clearances
    assert len(inbox) == 3
    assert inbox[2]["Subject"].startswith("[Vault] CLEARED: ltv_critical (portfolio) (+1 more)")

    pipeline.run(275_000)  # re-entering warn mails again (cooldown 0)
    assert len(inbox) == 4 and inbox[3]["Subject"].startswith("[Vault] WARNING: LTV 71.9%")

    server.stop()  # outage: the critical alert is logged as pending with one failed attempt
    pipeline.run(290_000)
    assert len(inbox) == 4
    assert pipeline.log()[-1] == ("ltv_critical", "enter", "critical", "pending", 1)

    restarted = smtp_server_factory()  # back up (on a new port): delivered exactly once
    pipeline.point_smtp_at(restarted)
    pipeline.run(290_000)
    pipeline.run(290_000)
    assert len(restarted.handler.messages) == 1
    assert restarted.handler.messages[0]["Subject"].startswith("[Vault] CRITICAL: LTV 75.9%")
    assert pipeline.log() == [
        ("ltv_warn", "enter", "warning", "sent", 1),
        ("ltv_critical", "enter", "critical", "sent", 1),
        ("ltv_critical", "leave", "critical", "sent", 1),
        ("ltv_warn", "leave", "warning", "sent", 1),
        ("ltv_warn", "enter", "warning", "sent", 1),
        ("ltv_critical", "enter", "critical", "sent", 2),
    ]
    every_mail = "\n".join(_bodies([*inbox, *restarted.handler.messages]))
    assert "cure amount" in every_mail


def test_email_off_keeps_alerts_pending_and_says_so_once(sandbox, monkeypatch) -> None:
    pipeline = Pipeline(sandbox, monkeypatch)
    result = pipeline.run(290_000)
    assert len([line for line in pipeline.messages(result) if "email off" in line]) == 1
    assert [row[3] for row in pipeline.log()] == ["pending", "pending"]
    with duckdb.connect(str(sandbox.warehouse), read_only=True) as conn:
        stored = " ".join(str(v) for row in conn.execute("SELECT * FROM analytics.alerts").fetchall() for v in row)
    assert "VAULT_SMTP" not in stored



def test_smtp_password_never_reaches_the_warehouse_or_the_run_log(sandbox, monkeypatch, smtp_server_factory):  # noqa: F811
    pipeline = Pipeline(sandbox, monkeypatch)
    server = smtp_server_factory()
    pipeline.point_smtp_at(server)
    server.stop()  # connection refused: the failure is recorded, the password is not
    monkeypatch.setenv("VAULT_SMTP_USER", "vault")
    monkeypatch.setenv("VAULT_SMTP_PASSWORD", "s3cret-Pa55word")
    result = pipeline.run(290_000)
    with duckdb.connect(str(sandbox.warehouse), read_only=True) as conn:
        rows = conn.execute("SELECT * FROM analytics.alerts").fetchall()
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
        everything = [v for schema, table in tables for row in conn.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
                      for v in row]
    assert {row[9] for row in rows} == {"pending"} and all(row[12] for row in rows)  # last_error set
    assert not any("s3cret-Pa55word" in str(value) for value in everything)
    assert not any("s3cret-Pa55word" in line for line in pipeline.messages(result))


def test_sensor_evaluates_alerts_only_after_runs_that_left_them_out(sandbox, monkeypatch) -> None:
    """The daily run (alerts included) is skipped; a hand-made partial run gets one follow-up request."""
    from assets.definitions import ALL_ASSETS
    from assets.sensors import alerts_after_successful_run

    pipeline = Pipeline(sandbox, monkeypatch)
    full = pipeline.run(275_000)
    partial = dg.materialize(
        ALL_ASSETS, resources=sandbox.resources(), selection=[dg.AssetKey(["analytics", "ltv_daily"])], instance=pipeline.instance)

    def evaluate(result: dg.ExecuteInProcessResult):  # noqa: ANN202
        context = dg.build_run_status_sensor_context(
            sensor_name=alerts_after_successful_run.name, dagster_instance=pipeline.instance,
            dagster_run=result.dagster_run, dagster_event=result.get_run_success_event())
        return alerts_after_successful_run(context)

    assert isinstance(evaluate(full), dg.SkipReason)
    request = evaluate(partial)
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == f"alerts-after-{partial.run_id}"
