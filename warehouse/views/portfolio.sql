-- Convenience views over the portfolio tables; recreated on every run.

CREATE OR REPLACE VIEW analytics.ltv_latest AS
SELECT * FROM analytics.ltv_daily
WHERE date = (SELECT max(date) FROM analytics.ltv_daily);

-- Hedges held on the latest market day, with their triage.
CREATE OR REPLACE VIEW analytics.positions_latest AS
SELECT * FROM analytics.positions_daily
WHERE date = (SELECT max(date) FROM analytics.ltv_daily);

-- The alert history log, stored in history.alerts (never rebuilt), readable as analytics.alerts.
CREATE OR REPLACE VIEW analytics.alerts AS
SELECT * FROM history.alerts;

-- Alerts waiting for email (email off, or the last attempt failed).
CREATE OR REPLACE VIEW analytics.alerts_pending AS
SELECT * FROM history.alerts WHERE delivery_status = 'pending';
