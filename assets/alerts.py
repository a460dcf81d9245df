"""The alerts asset: evaluate the rules, fold them into the alert log, email what is pending.

One asset, not two: it runs after `publish/report_pdf` so a critical email can attach the PDF
of the same run, and evaluating, logging and delivering in one step keeps the read-modify-write
of the log in one place. The log is persisted twice: right after the state change (so nothing
is lost if delivery crashes) and after delivery (sent / attempts / last_error). SMTP settings
come from `VAULT_SMTP_*` at run time and never reach the warehouse, the metadata or the log.
"""

from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from assets.resources import WAREHOUSE_TAG, MarketDataResource, OutputsResource, PortfolioResource, WarehouseResource
from pipeline import paths
from pipeline import warehouse as wh
from pipeline.alerts import AlertInputs, AlertThresholds, SmtpSettings, deliver_pending, evaluate_alerts, update_alert_log
from pipeline.alerts.rules import selloff_window
from pipeline.alerts.state import conform_alert_log
from pipeline.backtest.inputs import read_backtest_inputs
from pipeline.backtest.latest import latest_backtest, matching_event_ids
from pipeline.publish.backtests import event_outcomes, policy_names
from pipeline.publish.data import read_dashboard_data
from pipeline.publish.selloff import SelloffReport, render_selloff_pdf
from pipeline.config import Portfolio

ALERT_LOG_TABLE = "history.alerts"
UNHEALTHY_INGEST = frozenset({"partial", "stale"})  # raw.ingest_log statuses that raise data_stale
ALERTS_KEY = dg.AssetKey(["analytics", "alerts"])
SELLOFF_LATEST_PDF = "selloff_latest.pdf"


def alert_thresholds(book: Portfolio) -> AlertThresholds:
    """The rules' trigger levels from portfolio.toml."""
    return AlertThresholds(ltv_warn=book.alerts.warn_ltv, ltv_critical=book.alerts.critical_ltv,
                           ltv_liquidation=book.loan.liquidation_ltv,
                           hedge_expiry_days=book.alerts.hedge_expiry_days,
                           selloff_drawdown=book.alerts.selloff_drawdown,
                           selloff_lookback_days=book.alerts.selloff_lookback_days,
                           selloff_one_day_fall=book.alerts.selloff_one_day_fall)


def _inputs(conn, book: Portfolio) -> AlertInputs:  # noqa: ANN001
    latest = conn.sql("SELECT date, ltv, gld_close, margin_call_price, cure_amount, hedge_value, hedged_ltv, "
                      "hedged_margin_call_price FROM analytics.ltv_latest").pl()
    if latest.is_empty():
        raise ValueError("analytics.ltv_daily is empty; materialize analytics/ltv_daily first")
    row = latest.row(0, named=True)
    positions = conn.sql("SELECT position_id, dte, triage, triage_rule FROM analytics.positions_latest").pl()
    ingest = conn.sql("SELECT table_name, status, reason FROM raw.ingest_status").pl()
    data_status = {t: f"{s}: {r}" if s in UNHEALTHY_INGEST else "ok" for t, s, r in ingest.rows()}
    closes = conn.sql("SELECT date, close FROM raw.prices_daily WHERE symbol = ? AND date <= ? ORDER BY date DESC LIMIT ?",
                      params=[book.collateral.symbol, row["date"], book.alerts.selloff_lookback_days + 1]).pl()
    return AlertInputs(as_of=row["date"], ltv=row["ltv"], gld_close=row["gld_close"],
                       margin_call_price=row["margin_call_price"], cure_amount=row["cure_amount"],
                       hedge_value=row["hedge_value"], hedged_ltv=row["hedged_ltv"],
                       hedged_margin_call_price=row["hedged_margin_call_price"],
                       thresholds=alert_thresholds(book), positions=positions, data_status=data_status,
                       closes=closes, collateral_symbol=book.collateral.symbol)


def build_selloff_latest(conn, book: Portfolio, inputs: AlertInputs, reports_dir: Path,  # noqa: ANN001
                         now: datetime) -> Path | None:
    """`selloff_latest.pdf` for the window the selloff rule sees (None when it sees none): the
    templates replayed from the lookback high to today, beside the nearest stored events."""
    t = inputs.thresholds
    window = selloff_window(inputs.closes, t.selloff_lookback_days, t.selloff_drawdown, t.selloff_one_day_fall)
    if window is None:
        return None
    event, result = latest_backtest(read_backtest_inputs(conn, book), book, window.start, window.end)
    data = read_dashboard_data(conn, book, now)
    stored = data.backtests
    nearest = matching_event_ids(event["drawdown"], stored.events)
    comparison = event_outcomes(stored.events.filter(pl.col("event_id").is_in(nearest)), stored.runs)
    report = SelloffReport(portfolio_name=book.name, generated_at=now, event=event, runs=result.runs,
                           paths=result.paths, scenarios=data.strategies.scenarios,
                           recommendation=data.strategies.recommendation, comparison=comparison,
                           names=policy_names(data.strategies.comparison))
    return render_selloff_pdf(report, reports_dir / SELLOFF_LATEST_PDF, paths.TEMPLATES_DIR)


def latest_report(reports_dir: Path) -> Path | None:
    """The newest PDF summary (names carry the ISO market date, so name order is date order)."""
    reports = sorted(reports_dir.glob("vault_summary_*.pdf"))
    return reports[-1] if reports else None


@dg.asset(key_prefix="analytics", group_name="alerts", kinds={"duckdb", "email"},
          deps=[dg.AssetKey(["analytics", "ltv_daily"]), dg.AssetKey(["analytics", "positions_daily"]),
                dg.AssetKey(["publish", "report_pdf"])],
          op_tags=WAREHOUSE_TAG)
def alerts(context: dg.AssetExecutionContext, portfolio: PortfolioResource, warehouse: WarehouseResource,
           market: MarketDataResource, outputs: OutputsResource) -> dg.MaterializeResult:
    """Alert history log (history.alerts, read as analytics.alerts): one row per state change, emailed once."""
    book = portfolio.load()
    now = market.now()
    settings = SmtpSettings.from_env()  # raises on a malformed VAULT_SMTP_* before anything changes
    with warehouse.open() as conn:
        inputs = _inputs(conn, book)
        active = evaluate_alerts(inputs)
        selloff_pdf = (build_selloff_latest(conn, book, inputs, Path(outputs.reports_dir), now)
                       if "selloff" in active["rule"].to_list() else None)
        log = conform_alert_log(wh.read_table(conn, ALERT_LOG_TABLE, order_by="first_seen, alert_id"))
        log = update_alert_log(log, active, now, timedelta(hours=book.alerts.cooldown_hours))
        wh.replace_rows(conn, ALERT_LOG_TABLE, log)
    if settings is None:
        context.log.info("email off: VAULT_SMTP_HOST is not set; pending alerts stay in analytics.alerts")
    elif not book.alerts.recipients:
        context.log.warning("email on but alerts.recipients is empty in the portfolio file; alerts stay pending")
        settings = None
    log, result = deliver_pending(log, settings, book.alerts.recipients, latest_report(Path(outputs.reports_dir)), now,
                                  selloff_pdf=selloff_pdf)
    with warehouse.open() as conn:
        wh.replace_rows(conn, ALERT_LOG_TABLE, log)
    if result.error:
        context.log.warning(f"alert email failed, {result.pending} alert(s) kept pending for the next run: {result.error}")
    elif result.sent:
        context.log.info(f"alert email sent for {result.sent} alert(s)"
                         + (f" with {', '.join(p.name for p in result.attachments)}" if result.attachments else ""))
    return dg.MaterializeResult(metadata={
        "active": ", ".join(f"{r}({s})" for r, s in active.select("rule", "subject").rows()) or "(none)",
        "log_rows": log.height,
        "sent": result.sent,
        "pending": result.pending,
        "email": "on" if result.email_enabled else "off",
    })
